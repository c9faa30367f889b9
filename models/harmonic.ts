/**
 * Harmonic (sin/cos) positional encoding of a token's local indices inside
 * the neighborhood, as AtmoRep adds to its embeddings: the width is split
 * into one band per axis (level, time, latitude, longitude — on meshes
 * level, time, token slot), each band a standard transformer encoding of
 * that axis' index. Absolute position and time enter through token info.
 *
 * @module
 */

/** Encoding [levels·tokens, width] for tokens ordered (level, a, b, c) with `axes` = [a, b, c] extents. */
export function harmonicEncoding(levels: number, axes: [number, number, number], width: number): Float32Array {
  const [A, B, C] = axes;
  const n = levels * A * B * C;
  const out = new Float32Array(n * width);
  const band = Math.floor(width / 4 / 2) * 2; // even band width per axis
  if (band === 0) return out;
  for (let l = 0, r = 0; l < levels; l++) {
    for (let a = 0; a < A; a++) {
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < C; c++, r++) {
          const idx = [l, a, b, c];
          for (let ax = 0; ax < 4; ax++) {
            for (let k = 0; k < band; k += 2) {
              const f = idx[ax] / Math.pow(100, k / band);
              out[r * width + ax * band + k] = Math.sin(f);
              out[r * width + ax * band + k + 1] = Math.cos(f);
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * AtmoRep's positional encoding (`positional_encoding_harmonic`), for
 * tokens ordered (level, t, lat, lon) with `axes` = [nt, nlat, nlon]: with
 * x_k = 2π·2k/width, column 2k holds 0.5·sin(8·lat·x_k) + sin(t·x_k) and
 * column 2k+1 holds 0.5·cos(8·lon·x_k) + cos(level·x_k). As AtmoRep, the
 * latitude index is the in-slab index divided by nlat (not nlon), and every
 * step is rounded to float32 as PyTorch computes it.
 */
export function atmorepHarmonicEncoding(
  levels: number,
  axes: [number, number, number],
  width: number,
): Float32Array {
  if (width % 2) throw new Error(`AtmoRep's harmonic encoding needs an even width (got ${width})`);
  const [nt, nlat, nlon] = axes;
  const ntok = nt * nlat * nlon, slab = nlat * nlon, n = levels * ntok, f = Math.fround;
  const out = new Float32Array(n * width);
  const xs = Array.from({ length: width / 2 }, (_, k) => f(f(f(2 * Math.PI) * 2 * k) / width));
  for (let i = 0; i < n; i++) {
    const v = Math.floor(i / ntok), t = Math.floor((i % ntok) / slab);
    const inSlab = i % slab, lat = Math.floor(inSlab / nlat), lon = inSlab % nlon;
    for (let k = 0; k < width / 2; k++) {
      const x = xs[k];
      out[i * width + 2 * k] = f(f(0.5 * f(Math.sin(f(8 * lat * x)))) + f(Math.sin(f(t * x))));
      out[i * width + 2 * k + 1] = f(f(0.5 * f(Math.cos(f(8 * lon * x)))) + f(Math.cos(f(v * x))));
    }
  }
  return out;
}
