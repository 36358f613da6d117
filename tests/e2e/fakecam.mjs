// A fake webcam for the end-to-end test (fakecam/fakecam.c): a GStreamer plugin that WebKitGTK
// finds like a USB camera. Its picture is a PNG file that the test writes, so the app's camera
// scanning runs through WebKit's real capture path with a QR code of the test's choosing.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

/**
 * Compiles the plugin into a new directory. Processes started with `env()` see the camera; it
 * shows the PNG at `image` (read again each time the camera is opened).
 */
export function buildFakeCamera() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "coworker-e2e-camera-"));
  let flags;
  try {
    flags = execFileSync("pkg-config", ["--cflags", "--libs", "gstreamer-1.0"], { encoding: "utf8" });
  } catch {
    throw new Error("the fake camera needs GStreamer's headers (libgstreamer1.0-dev): run scripts/setup.sh");
  }
  const source = path.join(import.meta.dirname, "fakecam", "fakecam.c");
  const library = path.join(dir, "libgstfakecam.so");
  execFileSync("gcc", ["-shared", "-fPIC", "-Wall", "-Werror", "-o", library, source, ...flags.trim().split(/\s+/)], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return {
    dir,
    image: path.join(dir, "camera.png"),
    /** The variables that give a process (and WebKit's web process under it) the camera. */
    env() {
      const plugins = [dir, process.env.GST_PLUGIN_PATH].filter(Boolean).join(":");
      return { GST_PLUGIN_PATH: plugins, FAKECAM_IMAGE: this.image };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PNG of `width` x `height` pixels all of colour `rgb` ([r, g, b], 0-255). */
export function solidPng(width, height, rgb) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, no interlacing
  // Each row: filter type 0, then the pixels.
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill(rgb).flat())]);
  const pixels = Buffer.concat(Array(height).fill(row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
