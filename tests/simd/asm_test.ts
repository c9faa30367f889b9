/**
 * The typed WebAssembly assembler (simd/asm.ts): a wrongly typed
 * instruction, a local set with the wrong type, a block that leaves values
 * behind and a branch to a closed label are refused while assembling, with
 * the function and the instruction named; modules it assembles (own and
 * imported memories, structured loops) run and compute what they say;
 * and the five kernel modules keep the bytes they had when they were
 * hand-assembled (same bytes: same speed, same results).
 */
import assert from "node:assert/strict";
import { type Label, leb128, sleb128, WasmModule } from "../../simd/asm.ts";
import { pointSumsModule } from "../../simd/point_sums.ts";
import { shuffleModule } from "../../simd/shuffle.ts";
import { softmaxModule } from "../../simd/softmax.ts";
import { tilesModule } from "../../simd/tiles.ts";

Deno.test("the assembler refuses an f64x2.add given an i32, naming the op and the types", () => {
  const module = new WasmModule();
  assert.throws(
    () => module.func("bad", ["i32"], [], (f, [x]) => f.local.get(x).local.get(x).f64x2.add()),
    /bad: f64x2\.add expects \[v128 v128\] on the stack, found \[i32 i32\]/,
  );
  assert.throws(
    () => module.func("short", [], [], (f) => f.f32.const(1).f32x4.splat().f64x2.add()),
    /short: f64x2\.add expects \[v128 v128\] on the stack, found \[v128\] \(1 operand in this block\)/,
  );
});

Deno.test("the assembler refuses a local.set of the wrong type, values left in a block, and a closed label", () => {
  const module = new WasmModule();
  assert.throws(
    () => module.func("set", [], [], (f) => f.f64.const(1).local.set(f.newLocal("i32"))),
    /set: local\.set expects \[i32\] on the stack, found \[f64\]/,
  );
  assert.throws(
    () => module.func("left", [], [], (f) => f.block(() => f.i32.const(1))),
    /left: block of a block leaves \[i32\], expected \[\]/,
  );
  assert.throws(
    () => module.func("result", [], ["f32"], (f) => f.i32.const(1)),
    /result: end of the function of a function leaves \[i32\], expected \[f32\]/,
  );
  assert.throws(() =>
    module.func("label", [], [], (f) => {
      let closed: Label | undefined;
      f.block((exit) => closed = exit);
      f.br(closed!);
    }), /label: br to a label that is not open/);
  assert.throws(
    () =>
      module.func(
        "lanes",
        [],
        [],
        (f) => f.i32.const(0).i32x4.splat().local.get(f.newLocal("v128")).i8x16.shuffle([1, 2]),
      ),
    /lanes: i8x16\.shuffle takes 16 lane indices/,
  );
});

Deno.test("LEB128 immediates", () => {
  assert.deepEqual(leb128(0), [0]);
  assert.deepEqual(leb128(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb128(127), [0xff, 0x00]);
  assert.deepEqual(sleb128(-1), [0x7f]);
  assert.deepEqual(sleb128(-123456), [0xc0, 0xbb, 0x78]);
});

Deno.test("an assembled module with an imported and an own memory runs: a loop of f64x2 adds across both", () => {
  const module = new WasmModule();
  const input = module.importMemory("input");
  const own = module.memory();
  // addPairs(n): own[16i] = input[32i] + input[32i + 16] (f64x2), i < n; returns n.
  module.func("addPairs", ["i32"], ["i32"], (f, [n]) => {
    const i = f.newLocal("i32");
    f.until(() => f.local.get(i).local.get(n).i32.ge_u(), () => {
      f.local.get(i).i32.const(16).i32.mul();
      f.local.get(i).i32.const(32).i32.mul().v128.load(input);
      f.local.get(i).i32.const(32).i32.mul().v128.load(input, { offset: 16 });
      f.f64x2.add().v128.store(own, { align: 3 });
      f.local.get(i).i32.const(1).i32.add().local.set(i);
    });
    f.local.get(n);
  });
  const bytes = module.bytes();
  assert.ok(WebAssembly.validate(bytes), "this V8 has WebAssembly SIMD and multi-memory");
  const memory = new WebAssembly.Memory({ initial: 1 });
  const values = new Float64Array(memory.buffer, 0, 8);
  values.set([1, 2, 10, 20, 3, 4, 30, 40]);
  const wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { input: memory } });
  assert.equal((wasm.exports.addPairs as (n: number) => number)(2), 2);
  const out = new Float64Array((wasm.exports.memory as WebAssembly.Memory).buffer, 0, 4);
  assert.deepEqual([...out], [11, 22, 33, 44]);
});

Deno.test("the kernels assemble to the same bytes as before the assembler (a change must be deliberate: update the hash)", async () => {
  const sha256 = async (bytes: Uint8Array<ArrayBuffer>) =>
    [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0"))
      .join("");
  const modules: [string, Uint8Array<ArrayBuffer>, string][] = [
    ["shuffle", shuffleModule(), "133425efe5c5327790028b77e88c99c4cc0e88c2b62993e84e277cad40b8e929"],
    ["tiles", tilesModule(), "2d987e44c5eed558d97b830ce0e86c74f017d8368fb824b3baefc7c497ed8c2f"],
    ["point sums", pointSumsModule(false), "581964758d2f49b05ceb96510512e7a0e2db0928222d4a01dccde30ace6b0c63"],
    [
      "point sums (workspace)",
      pointSumsModule(true),
      "31d30f784036f81c97925a5dcd4cb08b72ea697829da4fd516e60a1186a7d728",
    ],
    ["softmax", softmaxModule(), "0867a2200945899a557b3015dfad983784fbd60e7450d6170740c0a2a7d3b4d5"],
  ];
  for (const [name, bytes, hash] of modules) {
    assert.ok(WebAssembly.validate(bytes), `${name} validates`);
    assert.equal(await sha256(bytes), hash, name);
  }
});
