// Bundles the product with esbuild (type-checking is `tsc -b`, a separate step):
//   dist/cli.mjs        the `ai-audit` CLI and daemon (Node, ESM)
// The extension and webview bundles are added here as they are built.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // A native module cannot be bundled: it is loaded from node_modules (or shipped beside the bundle).
  external: ['@napi-rs/keyring'],
};

await build({
  ...common,
  entryPoints: { cli: 'daemon/cli/aiAudit.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
await chmod('dist/cli.mjs', 0o755);
