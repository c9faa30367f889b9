/**
 * The WGSL kernels of the device-resident `webgpu` backend
 * (ops/webgpu_device.ts), one per kernel of the device contract
 * (ops/device.ts), each documented there. Every kernel takes its scalars in
 * a 32-word uniform block (binding 0: `pu(i)` a u32 word, `pf(i)` the same
 * word as f32) and its buffers in bindings 1… in the order the device
 * passes them. Elementwise kernels run 256 invocations per workgroup over
 * a 2-D grid of workgroups (65535 is the per-dimension limit); row kernels
 * use one invocation per row or column (simple and exact, not fast);
 * reductions one workgroup of 256 with a tree in workgroup memory.
 *
 * @module
 */

const HEADER = /* wgsl */ `
struct P { w: array<vec4<u32>, 8> };
@group(0) @binding(0) var<uniform> prm: P;
fn pu(i: u32) -> u32 { return prm.w[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn gidx(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 { return (wg.y * nwg.x + wg.x) * 256u + li; }
`;

const ENTRY = /* wgsl */ `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32)`;

/** erfc(x) as ops/elementwise.ts's erfc (Numerical Recipes' erfcc). */
const ERFC = /* wgsl */ `
fn erfc_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  if (x >= 0.0) { return r; }
  return 2.0 - r;
}
fn erf_as(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
    exp(-a * a);
  return sign(x) * y;
}
`;

/** A single-workgroup sum of `n` terms computed by `term(i)` into `total`, tree-reduced (needs `red`). */
const REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, 256>;
fn reduce256(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

function kernel(bindings: string, body: string, extra = ""): string {
  return `${HEADER}${extra}${bindings}\n${ENTRY} {\n${body}\n}\n`;
}

/** WGSL source per kernel name. */
export const WGSL: Record<string, string> = {
  // params: n, off, value
  fill: kernel(
    `@group(0) @binding(1) var<storage, read_write> y: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; } y[pu(1) + i] = pf(2);`,
  ),
  // params: rows, width, srcOff, srcStride, dstOff, dstStride, accumulate, alpha
  strided: kernel(
    `@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;`,
    `let i = gidx(wg, nwg, li); let w = pu(1); if (i >= pu(0) * w) { return; }
  let r = i / w; let j = i % w;
  let v = pf(7) * src[pu(2) + r * pu(3) + j];
  let at = pu(4) + r * pu(5) + j;
  if (pu(6) == 1u) { dst[at] += v; } else { dst[at] = v; }`,
  ),
  // params: rows, n
  addRowVector: kernel(
    `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0) * pu(1)) { return; } y[i] = x[i] + v[i % pu(1)];`,
  ),
  addRowVectorInPlace: kernel(
    `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0) * pu(1)) { return; } y[i] += v[i % pu(1)];`,
  ),
  // params: rows, n — one invocation per column
  sumRows: kernel(
    `@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;`,
    `let j = gidx(wg, nwg, li); let n = pu(1); if (j >= n) { return; }
  var s = 0.0; for (var r = 0u; r < pu(0); r++) { s += dy[r * n + j]; } g[j] += s;`,
  ),
  // params: rows, D, eps, affine — one invocation per row
  layerNorm: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;`,
    `let r = gidx(wg, nwg, li); if (r >= pu(0)) { return; }
  let D = pu(1); let o = r * D;
  var s = 0.0; for (var j = 0u; j < D; j++) { s += x[o + j]; }
  let m = s / f32(D);
  var v = 0.0; for (var j = 0u; j < D; j++) { let d = x[o + j] - m; v += d * d; }
  let rs = 1.0 / sqrt(v / f32(D) + pf(2));
  mean[r] = m; rstd[r] = rs;
  let affine = pu(3) == 1u;
  for (var j = 0u; j < D; j++) {
    let h = (x[o + j] - m) * rs;
    if (affine) { y[o + j] = h * gamma[j] + beta[j]; } else { y[o + j] = h; }
  }`,
  ),
  // params: rows, D, affine — dx per row
  layerNormBackward: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;`,
    `let r = gidx(wg, nwg, li); if (r >= pu(0)) { return; }
  let D = pu(1); let o = r * D; let m = mean[r]; let rs = rstd[r]; let affine = pu(2) == 1u;
  var s1 = 0.0; var s2 = 0.0;
  for (var j = 0u; j < D; j++) {
    let h = (x[o + j] - m) * rs;
    var dh = dy[o + j]; if (affine) { dh *= gamma[j]; }
    s1 += dh; s2 += dh * h;
  }
  s1 /= f32(D); s2 /= f32(D);
  for (var j = 0u; j < D; j++) {
    let h = (x[o + j] - m) * rs;
    var dh = dy[o + j]; if (affine) { dh *= gamma[j]; }
    dx[o + j] += rs * (dh - s1 - h * s2);
  }`,
  ),
  // params: rows, D, writeGamma, writeBeta — one invocation per column
  layerNormParamGrad: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;`,
    `let j = gidx(wg, nwg, li); let D = pu(1); if (j >= D) { return; }
  var sg = 0.0; var sb = 0.0;
  for (var r = 0u; r < pu(0); r++) {
    let d = dy[r * D + j];
    sg += d * (x[r * D + j] - mean[r]) * rstd[r]; sb += d;
  }
  if (pu(2) == 1u) { dgamma[j] += sg; }
  if (pu(3) == 1u) { dbeta[j] += sb; }`,
  ),
  // params: n, form (0 tanh, 1 erf)
  gelu: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; }
  let v = x[i];
  if (pu(1) == 0u) {
    let t = tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0));
    y[i] = 0.5 * v * (1.0 + t);
  } else {
    y[i] = v * 0.5 * erfc_(-v * 0.7071067811865476);
  }`,
    ERFC,
  ),
  geluBackward: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; }
  let v = x[i]; var d = 0.0;
  if (pu(1) == 0u) {
    let c = 0.7978845608028654;
    let t = tanh(clamp(c * (v + 0.044715 * v * v * v), -15.0, 15.0));
    d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v);
  } else {
    d = 0.5 * erfc_(-v * 0.7071067811865476) + v * 0.3989422804014327 * exp(-0.5 * v * v);
  }
  dx[i] += dy[i] * d;`,
    ERFC,
  ),
  // params: n, seed, threshold, scale
  dropout: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> keep: array<f32>;
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; }
  var k = 0.0; if (pcg(pu(1) ^ pcg(i)) >= pu(2)) { k = pf(3); }
  keep[i] = k; y[i] = x[i] * k;`,
  ),
  // params: n
  mulAdd: kernel(
    `@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; } dx[i] += dy[i] * w[i];`,
  ),
  // params: rows, n, accumulate
  scaleRows: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0) * pu(1)) { return; }
  let v = x[i] * w[i / pu(1)];
  if (pu(2) == 1u) { y[i] += v; } else { y[i] = v; }`,
  ),
  // params: count, width
  gatherRows: kernel(
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;`,
    `let i = gidx(wg, nwg, li); let w = pu(1); if (i >= pu(0) * w) { return; }
  y[i] = x[u32(index[i / w]) * w + i % w];`,
  ),
  // params: rows, width
  scatterAddRows: kernel(
    `@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> start: array<i32>;
@group(0) @binding(3) var<storage, read> sources: array<i32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;`,
    `let i = gidx(wg, nwg, li); let w = pu(1); if (i >= pu(0) * w) { return; }
  let r = i / w; let j = i % w;
  var s = 0.0;
  for (var q = start[r]; q < start[r + 1u]; q++) { s += dy[u32(sources[q]) * w + j]; }
  dx[i] += s;`,
  ),
  // params: rows, n, hasMask, rowsPerBatch — one invocation per row
  softmaxRows: kernel(
    `@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;`,
    `let r = gidx(wg, nwg, li); if (r >= pu(0)) { return; }
  let n = pu(1); let o = r * n; let masked = pu(2) == 1u; let mo = (r / max(pu(3), 1u)) * n;
  var m = -3.4e38; var seen = false;
  for (var j = 0u; j < n; j++) {
    if (masked && mask[mo + j] == 0.0) { continue; }
    m = max(m, s[o + j]); seen = true;
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    if (!seen || (masked && mask[mo + j] == 0.0)) { s[o + j] = 0.0; continue; }
    let e = exp(s[o + j] - m); s[o + j] = e; sum += e;
  }
  if (!seen) { return; }
  let inv = 1.0 / sum;
  for (var j = 0u; j < n; j++) { s[o + j] *= inv; }`,
  ),
  // params: rows, n, scale
  softmaxBackwardRows: kernel(
    `@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> dp: array<f32>;`,
    `let r = gidx(wg, nwg, li); if (r >= pu(0)) { return; }
  let n = pu(1); let o = r * n;
  var d = 0.0; for (var j = 0u; j < n; j++) { d += p[o + j] * dp[o + j]; }
  for (var j = 0u; j < n; j++) { dp[o + j] = p[o + j] * (dp[o + j] - d) * pf(2); }`,
  ),
  // params: M, E, V, kind (index in LOSS_KINDS) — one invocation per value slot
  ensembleLoss: kernel(
    `@group(0) @binding(1) var<storage, read> members: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<f32>;
@group(0) @binding(4) var<storage, read> rw: array<f32>;
@group(0) @binding(5) var<storage, read_write> terms: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;`,
    `let s = gidx(wg, nwg, li); let M = pu(0); let E = pu(1); let V = pu(2); let kind = pu(3);
  if (s >= M * V) { return; }
  let m = s / V; let v = s % V; let base = m * E * V + v; let fE = f32(E);
  terms[2u * M * V + s] = 0.0;
  if (valid[s] == 0.0) {
    terms[2u * s] = 0.0; terms[2u * s + 1u] = 0.0;
    for (var e = 0u; e < E; e++) { grad[base + e * V] = 0.0; }
    return;
  }
  var w = 1.0; if (kind == 3u) { w = rw[s]; }
  let y = values[s];
  terms[2u * s + 1u] = w;
  if (kind == 0u || kind == 3u) {
    var tot = 0.0;
    for (var e = 0u; e < E; e++) {
      let d = members[base + e * V] - y; tot += w * d * d / fE; grad[base + e * V] = 2.0 * w * d / fE;
    }
    terms[2u * s] = tot; return;
  }
  if (kind == 6u) {
    var tot = 0.0; var spread = 0.0;
    for (var e = 0u; e < E; e++) {
      let xe = members[base + e * V]; let d = xe - y;
      tot += abs(d) / fE; grad[base + e * V] = sign(d) / fE;
      for (var f = 0u; f < E; f++) { spread += abs(xe - members[base + f * V]); }
    }
    terms[2u * s] = tot; terms[2u * M * V + s] = spread; return;
  }
  var mu = 0.0; for (var e = 0u; e < E; e++) { mu += members[base + e * V]; } mu /= fE;
  var dMu = 0.0; var dSigma = 0.0; var sigma = 0.0; var value = 0.0;
  if (kind == 2u) {
    let d = mu - y; value = d * d; dMu = 2.0 * d;
  } else {
    var ss = 0.0; for (var e = 0u; e < E; e++) { let d = members[base + e * V] - mu; ss += d * d; }
    sigma = sqrt(ss / (fE - 1.0)) + 1e-6;
    let z = (y - mu) / sigma;
    if (kind == 1u) {
      let a = exp(-0.5 * z * z); let dz = 2.0 * (a - 1.0) * a * -z;
      value = (a - 1.0) * (a - 1.0) + sqrt(sigma); dMu = dz * (-1.0 / sigma);
      dSigma = dz * (-z / sigma) + 0.5 / sqrt(sigma);
    } else if (kind == 5u) {
      let u = (y - mu) / (sigma * sigma); let a = erf_as(u);
      let du = 0.4 * a * 1.1283791670955126 * exp(-u * u);
      value = 0.2 * a * a + sqrt(sigma); dMu = du * (-1.0 / (sigma * sigma));
      dSigma = du * (-2.0 * u / sigma) + 0.5 / sqrt(sigma);
    } else {
      let pdf = exp(-0.5 * z * z) * 0.3989422804014327; let cdf = 0.5 * (1.0 + erf_as(z * 0.7071067811865476));
      value = sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 0.5641895835477563);
      dMu = -(2.0 * cdf - 1.0); dSigma = 2.0 * pdf - 0.5641895835477563;
    }
  }
  terms[2u * s] = value;
  var sd = sigma - 1e-6; if (sd == 0.0) { sd = 1.0; }
  for (var e = 0u; e < E; e++) {
    let dev = members[base + e * V] - mu;
    var dsd = 0.0; if (sigma > 0.0 && dSigma != 0.0) { dsd = dev / ((fE - 1.0) * sd); }
    grad[base + e * V] = dMu / fE + dSigma * dsd;
  }`,
    ERFC,
  ),
  // params: n, spreadScale — one workgroup
  lossTotal: kernel(
    `@group(0) @binding(1) var<storage, read> terms: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;`,
    `let n = pu(0); var a = 0.0; var c = 0.0; var sp = 0.0;
  for (var s = li; s < n; s += 256u) { a += terms[2u * s]; c += terms[2u * s + 1u]; sp += terms[2u * n + s]; }
  let ta = reduce256(li, a); let tc = reduce256(li, c); let tsp = reduce256(li, sp);
  if (li == 0u) { var cnt = tc; if (cnt == 0.0) { cnt = 1.0; } out[0] = (ta - pf(1) * tsp) / cnt; out[1] = cnt; }`,
    REDUCE,
  ),
  // params: n
  lossBackward: kernel(
    `@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> total: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; } dx[i] += grad[i] * (dout[0] / total[1]);`,
  ),
  // params: M, E, V — one workgroup
  ensembleMeanMse: kernel(
    `@group(0) @binding(1) var<storage, read> members: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;`,
    `let M = pu(0); let E = pu(1); let V = pu(2); var a = 0.0; var c = 0.0;
  for (var s = li; s < M * V; s += 256u) {
    if (valid[s] == 0.0) { continue; }
    let m = s / V; let v = s % V; var mu = 0.0;
    for (var e = 0u; e < E; e++) { mu += members[(m * E + e) * V + v]; }
    let d = mu / f32(E) - values[s]; a += d * d; c += 1.0;
  }
  let ta = reduce256(li, a); let tc = reduce256(li, c);
  if (li == 0u) { out[0] = ta / tc; out[1] = tc; }`,
    REDUCE,
  ),
  // params: n, accOff — one workgroup
  sumSquares: kernel(
    `@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;`,
    `let n = pu(0); var a = 0.0;
  for (var i = li; i < n; i += 256u) { a += g[i] * g[i]; }
  let t = reduce256(li, a);
  if (li == 0u) { acc[pu(1)] += t; }`,
    REDUCE,
  ),
  // params: n, lr, b1, b2, eps, wd, bc1, bc2, clip
  adamw: kernel(
    `@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> normSq: array<f32>;`,
    `let i = gidx(wg, nwg, li); if (i >= pu(0)) { return; }
  let ns = normSq[0];
  if ((bitcast<u32>(ns) & 0x7f800000u) == 0x7f800000u) { return; } // not finite: the step diverged, no update
  let norm = sqrt(ns); let clip = pf(8);
  var gs = 1.0; if (clip > 0.0 && norm > clip) { gs = clip / norm; }
  let b1 = pf(2); let b2 = pf(3); let lr = pf(1);
  let gi = g[i] * gs;
  let mi = b1 * m[i] + (1.0 - b1) * gi;
  let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
  m[i] = mi; v[i] = vi;
  w[i] = w[i] * (1.0 - lr * pf(5)) - lr * (mi / pf(6)) / (sqrt(vi / pf(7)) + pf(4));`,
  ),
  gemm: /* wgsl */ `${HEADER}
// params: m, n, k, ta, tb, lda, ldb, ldc, alpha, beta, aOff, bOff, cOff, batch1, aS0, aS1, bS0, bS1, cS0, cS1
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
const T: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<array<f32, 64>, 16>;
var<workgroup> Bs: array<array<f32, 64>, 16>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = pu(0); let N = pu(1); let K = pu(2); let ta = pu(3) == 1u; let tb = pu(4) == 1u;
  let lda = pu(5); let ldb = pu(6); let ldc = pu(7);
  let i0 = wg.z / pu(13); let i1 = wg.z % pu(13);
  let ao = pu(10) + i0 * pu(14) + i1 * pu(15);
  let bo = pu(11) + i0 * pu(16) + i1 * pu(17);
  let co = pu(12) + i0 * pu(18) + i1 * pu(19);
  let row0 = wg.y * T; let col0 = wg.x * T; let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u; let kk = idx / 64u; let rc = idx % 64u;
      let r = row0 + rc; let q = k0 + kk; let col = col0 + rc;
      var av = 0.0;
      if (r < M && q < K) { if (ta) { av = a[ao + q * lda + r]; } else { av = a[ao + r * lda + q]; } }
      var bv = 0.0;
      if (q < K && col < N) { if (tb) { bv = b[bo + col * ldb + q]; } else { bv = b[bo + q * ldb + col]; } }
      As[kk][rc] = av; Bs[kk][rc] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, 4>; var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = As[kk][lid.y + i * 16u]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk][lid.x + j * 16u]; }
      for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * bv[j]; } }
    }
    workgroupBarrier();
  }
  let alpha = pf(8); let beta = pf(9);
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + i * 16u;
    if (r >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + j * 16u;
      if (col >= N) { continue; }
      let at = co + r * ldc + col;
      var v = alpha * acc[i][j];
      if (beta != 0.0) { v += beta * c[at]; }
      c[at] = v;
    }
  }
}
`,
};

/** Loss kinds in the order the ensembleLoss kernel numbers them. */
export const LOSS_KINDS = [
  "mse_ensemble",
  "stats",
  "mse",
  "weighted_mse",
  "crps",
  "stats_area",
  "kernel_crps",
] as const;
