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
