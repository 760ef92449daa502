// Bundles the product with esbuild (type-checking is `tsc -b`, a separate step):
//   dist/cli.mjs            the `ai-audit` CLI and daemon (Node, ESM)
//   dist/extension.cjs      the VS Code extension (Node, CommonJS, `vscode` external)
//   dist/webview/chat.js    the chat webview (browser, IIFE) with chat.css and the codicon font
//   dist/webview/auditLog.js  the audit log viewer (browser, IIFE) with auditLog.css
//   dist/cli-chunks/        the parts of the CLI loaded on demand (the S3 and Azure SDKs) and verify's worker thread,
//                           named by content hash
// Everything pure JavaScript is bundled (ws, zod, lowdb, the AWS and Azure SDKs, Sentry). Native modules
// cannot be: @napi-rs/keyring is loaded from node_modules (shipped in the .vsix and a dependency of the
// CLI package); @duckdb/node-api only by `ai-audit query --from`, with a dynamic import (a dependency of
// the CLI package, not in the .vsix: see docs/packaging.md).
import { build } from 'esbuild';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

// Native modules stay outside the bundle; DuckDB is loaded only by `query --from`. @sentry/node stays external
// too: it is imported only when SENTRY_DSN is set, and bundling would pull its OpenTelemetry instrumentation
// (about 250 MB installed) into every install. Install it beside the CLI where error tracking is wanted.
const node = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', external: ['@napi-rs/keyring', '@duckdb/node-api', '@sentry/node'] };

// zod's `z.locales` namespace carries every translation of its error messages (a third of the daemon's entry);
// the product uses English only, which zod registers itself. Any other locale would be undefined.
const englishZodOnly = {
  name: 'english-zod-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: new URL('../locales/en.js', `file://${args.importer}`).pathname, namespace: 'zod-en' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: root }));
  },
};

// The daemon starts from a small entry; what a dynamic `import()` loads (the S3 and Azure SDKs) is split into
// chunks named by their content hash, so that a daemon whose files were replaced by an upgrade either finds
// the very bytes it was built with or none, never another version's (docs/decisions.md, "Start-up").
// Chunks of earlier builds are removed: a running daemon of an earlier build then answers `daemon_outdated`.
await rm('dist/cli-chunks', { recursive: true, force: true });
// Verify's worker thread is a file of its own beside the chunks, named by its content hash too; the CLI is
// told its name (daemon/store/verifyWorkerPool.ts), so a daemon never starts another build's worker.
const worker = await build({ ...node, entryPoints: { 'verify-worker': 'daemon/store/verifyWorker.ts' }, outdir: 'dist', entryNames: 'cli-chunks/[name]-[hash]', outExtension: { '.js': '.mjs' }, format: 'esm', metafile: true });
const workerFile = Object.keys(worker.metafile.outputs).find((f) => f.endsWith('.mjs'))?.split('/').pop();
if (workerFile === undefined) throw new Error('the verify worker was not built');
await build({
  ...node,
  define: { AI_AUDIT_VERIFY_WORKER: JSON.stringify(workerFile) },
  entryPoints: { cli: 'daemon/cli/aiAudit.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  splitting: true,
  chunkNames: 'cli-chunks/[name]-[hash]',
  plugins: [englishZodOnly],
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
await chmod('dist/cli.mjs', 0o755);

if (existsSync('extension/extensionMain.ts')) {
  // `navigator`: zod probes `navigator.userAgent` (for Cloudflare Workers), and the extension host reports
  // every access to that global as a PendingMigrationError. The extension never runs where it exists.
  await build({ ...node, entryPoints: { extension: 'extension/extensionMain.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' }, format: 'cjs', plugins: [englishZodOnly], external: ['vscode', '@napi-rs/keyring', '@duckdb/node-api', '@sentry/node'], define: { navigator: 'undefined' } });
}
{
  await mkdir('dist/webview', { recursive: true });
  await build({ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: true, logLevel: 'warning', entryPoints: { chat: 'webview/chat/chatView.ts', auditLog: 'webview/auditLog/auditLogView.ts' }, outdir: 'dist/webview' });
  // Each view's stylesheet is the shared base page (webview/shared/base.css) followed by its own rules.
  const base = await readFile('webview/shared/base.css', 'utf8');
  await writeFile('dist/webview/chat.css', base + (await readFile('webview/chat/chatView.css', 'utf8')));
  await writeFile('dist/webview/auditLog.css', base + (await readFile('webview/auditLog/auditLog.css', 'utf8')));
  await copyFile('node_modules/@vscode/codicons/dist/codicon.css', 'dist/webview/codicon.css');
  await copyFile('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/webview/codicon.ttf');
}
