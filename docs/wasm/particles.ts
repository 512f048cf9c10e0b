// An AssemblyScript module that works on records forge-alloc allocated in the module's memory (docs/WASM.md).
// The record is forge-alloc's defineStruct({ id: "u32", x: "f32", y: "f32", alive: "u8" }): C layout, 16 bytes.
//   offset 0   4    8    12     13      16
//          | id | x  | y  | alive | (pad) |
// Compiled with --importMemory (the memory is forge-alloc's WasmMemoryBacked) and --runtime stub, with no
// static data, so the module writes nothing of its own into the memory.

const SIZE: u32 = 16;
const X: usize = 4;
const ALIVE: usize = 12;

/** Adds `dx` to `x` of every record whose `alive` is not 0; returns how many that was. */
export function moveAlive(ptr: u32, count: u32, dx: f32): u32 {
  let moved: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const p = <usize>(ptr + i * SIZE);
    if (load<u8>(p, ALIVE) != 0) {
      store<f32>(p, load<f32>(p, X) + dx, X);
      moved++;
    }
  }
  return moved;
}

/** The sum of `x` over every record, as a float64. */
export function sumX(ptr: u32, count: u32): f64 {
  let sum: f64 = 0;
  for (let i: u32 = 0; i < count; i++) sum += <f64>load<f32>(<usize>(ptr + i * SIZE), X);
  return sum;
}
