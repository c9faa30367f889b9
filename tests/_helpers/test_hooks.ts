/**
 * Test preload (`deno run --preload tests/_helpers/test_hooks.ts TASK …`):
 * switches on the `ATMOREP_TEST_*` environment hooks of zarr/fault_hook.ts
 * in the spawned task. The shipped command line never loads it, so those
 * variables are dead there.
 *
 * @module
 */
import { TEST_HOOKS } from "../../zarr/fault_hook.ts";

(globalThis as Record<symbol, unknown>)[TEST_HOOKS] = true;
