// COCO compressed RLE (pycocotools' string form) to a row-major mask, as the API sends masks.
"use strict";
const Rle = {
  counts(s) {
    const out = [];
    let p = 0;
    while (p < s.length) {
      let x = 0, k = 0, more = true, c = 0;
      while (more) {
        c = s.charCodeAt(p) - 48;
        x |= (c & 0x1f) << (5 * k);
        more = (c & 0x20) !== 0;
        p++; k++;
        if (!more && (c & 0x10) !== 0) x |= -1 << (5 * k);
      }
      if (out.length > 2) x += out[out.length - 2];
      out.push(x);
    }
    return out;
  },
  // Returns a Uint8Array of h*w, 1 = on, row-major (the counts run column by column).
  decode(rle) {
    const [h, w] = rle.size;
    const mask = new Uint8Array(h * w);
    let idx = 0, on = false;
    for (const n of Rle.counts(rle.counts)) {
      if (on) for (let i = idx; i < idx + n; i++) mask[(i % h) * w + Math.floor(i / h)] = 1;
      idx += n; on = !on;
    }
    return mask;
  },
};
