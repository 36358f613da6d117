// Reads QR codes in the browser (jsQR): from pixels, from an image file, or from video frames.
import jsQR from "jsqr";

export type QrErrorCode = "not_image" | "unreadable" | "no_canvas";

/** Why an image could not be scanned; `code` picks the translated message. */
export class QrError extends Error {
  constructor(
    readonly code: QrErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "QrError";
  }
}

/** The text of the QR code in `image`, or null when there is none. */
export function decodeImageData(image: ImageData): string | null {
  const found = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
  return found?.data ? found.data : null;
}

/** Larger images are scaled down to this many pixels on their longer side before scanning. */
const MAX_SIDE = 1600;

function canvas2d(width: number, height: number): CanvasRenderingContext2D {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) throw new QrError("no_canvas", "this view cannot draw images");
  return context;
}

/** The pixels of a drawable source (image, bitmap, video frame), scaled to at most MAX_SIDE. */
export function pixelsOf(source: CanvasImageSource, width: number, height: number): ImageData {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const context = canvas2d(w, h);
  context.drawImage(source, 0, 0, w, h);
  return context.getImageData(0, 0, w, h);
}

async function loadImage(file: File): Promise<{ source: CanvasImageSource; width: number; height: number; close(): void }> {
  if (typeof createImageBitmap === "function") {
    try {
      const bitmap = await createImageBitmap(file);
      return { source: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
    } catch {
      throw new QrError("unreadable", `cannot read ${file.name} as an image`);
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const image = new Image();
    await new Promise<void>((resolve, reject) => {
      image.onload = () => resolve();
      image.onerror = () => reject(new QrError("unreadable", `cannot read ${file.name} as an image`));
      image.src = url;
    });
    return { source: image, width: image.naturalWidth, height: image.naturalHeight, close: () => {} };
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * The text of the QR code in an image file, or null when the image holds none. Throws a
 * `QrError` when the file is not an image or cannot be read.
 */
export async function decodeFile(file: File): Promise<string | null> {
  if (!file.type.startsWith("image/")) throw new QrError("not_image", `${file.name} is not an image`);
  const image = await loadImage(file);
  try {
    return decodeImageData(pixelsOf(image.source, image.width, image.height));
  } finally {
    image.close();
  }
}
