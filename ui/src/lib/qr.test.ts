import { expect, test } from "vitest";
import { QrError, decodeFile, decodeImageData } from "./qr";

// A real QR code (version 3-M) of "coworker://invite/eyJuIjoiYWRhIn0", one row per line.
const MATRIX = `
11111110000001001110001111111
10000010011101110100101000001
10111010001001001100101011101
10111010001001110011101011101
10111010010101101110001011101
10000010101111100101101000001
11111110101010101010101111111
00000000000110100101000000000
10010110111110011001010100000
11111101100000110001111000111
10000011110100000101011110010
01111101111010110011111010101
00111011100010001101011001011
00101100000110011001100000000
01111111101010001110111000111
10010100101001110111111010001
11010010011001101001110001011
00110000000010000110011001011
10110111010101001010000101011
00010001111101000111101011000
10100010010000111101111110101
00000000110001001111100010011
11111110010001101100101010110
10000010100101010011100010100
10111010000100111000111111001
10111010111110110111001110010
10111010011001101011010110101
10000010000101110101100111010
11111110110100110100100000010`
  .trim()
  .split("\n");

/** RGBA pixels (jsdom has no canvas): `dark(x, y)` per pixel. */
function pixels(width: number, height: number, dark: (x: number, y: number) => boolean): ImageData {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = dark(x, y) ? 0 : 255;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { data, width, height, colorSpace: "srgb" } as ImageData;
}

function qrImage(scale = 4, quiet = 4): ImageData {
  const size = (MATRIX.length + 2 * quiet) * scale;
  return pixels(size, size, (x, y) => {
    const row = Math.floor(y / scale) - quiet;
    const col = Math.floor(x / scale) - quiet;
    return MATRIX[row]?.[col] === "1";
  });
}

test("decodes a QR code from its pixels", () => {
  expect(decodeImageData(qrImage())).toBe("coworker://invite/eyJuIjoiYWRhIn0");
});

test("decodes an inverted (light on dark) QR code", () => {
  const image = qrImage();
  for (let i = 0; i < image.data.length; i += 4) {
    const v = 255 - image.data[i];
    image.data.set([v, v, v], i);
  }
  expect(decodeImageData(image)).toBe("coworker://invite/eyJuIjoiYWRhIn0");
});

test("pixels without a QR code decode to null", () => {
  expect(decodeImageData(pixels(120, 120, () => false))).toBeNull();
  expect(decodeImageData(pixels(120, 120, (x, y) => (x * 7 + y * 13) % 5 === 0))).toBeNull();
});

test("a file that is not an image is refused with a clear error", async () => {
  const file = new File(["hello"], "notes.txt", { type: "text/plain" });
  const error = await decodeFile(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(QrError);
  expect((error as QrError).code).toBe("not_image");
  expect((error as QrError).message).toContain("notes.txt");
});
