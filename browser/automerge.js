// Automerge for browser bundles, with its WebAssembly inlined as base64. package.json's "browser"
// field maps the SDK's own `@automerge/automerge` imports here, so Vite (dev server and build),
// esbuild and webpack need no WebAssembly plugin or configuration: Automerge's "browser" entry
// imports a .wasm file, which esbuild cannot load and Vite's dependency pre-bundling loses.
// It has a side effect (instantiating the WebAssembly), hence its place in "sideEffects".
import { initializeBase64Wasm, isWasmInitialized } from '@automerge/automerge/slim';
import { automergeWasmBase64 } from '@automerge/automerge/automerge.wasm.base64';

// The app may have loaded Automerge itself already: one instance, initialised once.
if (!isWasmInitialized()) await initializeBase64Wasm(automergeWasmBase64);

export * from '@automerge/automerge/slim';
