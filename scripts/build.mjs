// Bundles the product with esbuild (type-checking is `tsc -b`, a separate step):
//   dist/cli.mjs            the `ai-audit` executable (Node, ESM): runs dist/cli-main.cjs with V8's code cache
//   dist/cli-main.cjs       the CLI and daemon (Node, CommonJS)
//   dist/extension.cjs      the VS Code extension (Node, CommonJS, `vscode` external)
//   dist/webview/chat.js    the chat webview (browser, IIFE) with chat.css and the codicon font
//   dist/webview/auditLog.js  the audit log viewer (browser, IIFE) with auditLog.css
//   dist/cli-chunks/        the parts of the CLI loaded on demand (the S3 and Azure SDKs) and verify's worker thread,
//                           named by content hash
//   dist/*.v8cache          V8's code caches of dist/cli-main.cjs, written at run time (not shipped)
// Everything pure JavaScript is bundled (ws, zod, lowdb, the AWS and Azure SDKs, Sentry). Native modules
// cannot be: @napi-rs/keyring is loaded from node_modules (shipped in the .vsix and a dependency of the
// CLI package); @duckdb/node-api only by `ai-audit query --from`, with a dynamic import (a dependency of
// the CLI package, not in the .vsix: see docs/packaging.md).
import { build } from 'esbuild';
import { chmod, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
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

// The CLI and daemon are one CommonJS bundle (dist/cli-main.cjs) that the executable, dist/cli.mjs, runs with V8's
// code cache (daemon/cli/codeCache.ts): a script, unlike ES modules, can be compiled from a cache on Node 20. The
// export SDKs are not in it: each group is a bundle of its own, loaded on first use and named by its content hash
// (an SDK's name is part of the main bundle's bytes), so that a daemon whose files were replaced by an upgrade
// either finds the very bytes it was built with or none, never another version's (docs/decisions.md,
// "Start-up"). The main bundle keeps the project's own code (the destinations included), so that its classes
// (errors above all) are one and the same everywhere; a group bundle holds packages only, each behind a getter
// so that loading the group evaluates only the packages used. Earlier builds' chunks and caches are removed: a
// running daemon of an earlier build then answers `daemon_outdated`.
const SDK_GROUPS = {
  aws: ['@aws-sdk/client-s3', '@aws-sdk/lib-storage'],
  azure: ['@azure/storage-blob', '@azure/identity'],
};
await rm('dist/cli-chunks', { recursive: true, force: true });
for (const name of await readdir('dist').catch(() => [])) if (/^cli(-main)?\.(mjs|cjs)(\.map)?$|\.v8cache$/.test(name)) await rm(`dist/${name}`);
const sdkGroups = {
  name: 'sdk-groups',
  setup(b) {
    b.onResolve({ filter: /^sdk-group:/ }, (args) => ({ path: args.path.slice('sdk-group:'.length), namespace: 'sdk-group' }));
    b.onLoad({ filter: /.*/, namespace: 'sdk-group' }, (args) => ({
      contents: `module.exports = {\n${SDK_GROUPS[args.path].map((p) => `  get ${JSON.stringify(p)}() { return require(${JSON.stringify(p)}); },`).join('\n')}\n};\n`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};
const groups = await build({
  ...node,
  entryPoints: Object.fromEntries(Object.keys(SDK_GROUPS).map((g) => [g, `sdk-group:${g}`])),
  outdir: 'dist',
  entryNames: 'cli-chunks/[name]-[hash]',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  metafile: true,
  plugins: [sdkGroups],
});
const groupFile = {};
for (const [file, output] of Object.entries(groups.metafile.outputs)) {
  const group = output.entryPoint?.replace(/^sdk-group:/, '');
  if (group !== undefined) groupFile[group] = `./${file.replace(/^dist\//, '')}`;
}
// In the main bundle an SDK package is a module that takes it from its group's bundle, a file beside the bundle.
const sdkFromGroups = {
  name: 'sdk-from-groups',
  setup(b) {
    const packages = Object.entries(SDK_GROUPS).flatMap(([group, list]) => list.map((p) => [p, group]));
    const groupOf = new Map(packages);
    const filter = new RegExp(`^(${packages.map(([p]) => p.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'sdk-package' }));
    b.onResolve({ filter: /^\.\/cli-chunks\// }, (args) => ({ path: args.path, external: true }));
    b.onLoad({ filter: /.*/, namespace: 'sdk-package' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(groupFile[groupOf.get(args.path)])})[${JSON.stringify(args.path)}];\n`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};
// The two worker threads' bodies are bundles of their own beside the chunks, built and named the same way:
// CommonJS, by content hash (`cli-chunks/<name>-<hash>.cjs`). The main bundle is told their names (verify:
// daemon/store/verifyWorkerPool.ts; encryption: CONTENT_CIPHER_WORKER in daemon/keys/contentEncryptor.ts), so a
// daemon never starts another build's worker.
const workers = await build({
  ...node,
  entryPoints: { 'verify-worker': 'daemon/store/verifyWorker.ts', 'cipher-worker': 'daemon/keys/contentCipherWorker.ts' },
  outdir: 'dist',
  entryNames: 'cli-chunks/[name]-[hash]',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  metafile: true,
});
const workerFile = {};
for (const [file, output] of Object.entries(workers.metafile.outputs)) {
  for (const [name, source] of [['verify', 'daemon/store/verifyWorker.ts'], ['cipher', 'daemon/keys/contentCipherWorker.ts']]) {
    if (output.entryPoint === source) workerFile[name] = file.split('/').pop();
  }
}
if (workerFile.verify === undefined || workerFile.cipher === undefined) throw new Error(`the workers were not both built: ${JSON.stringify(workerFile)}`);
await build({
  ...node,
  entryPoints: { 'cli-main': 'daemon/cli/aiAudit.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  // `import()` of the native and optional packages becomes `require()`: a script compiled from a code cache has
  // no dynamic-import hook on Node 20 ("A dynamic import callback was not specified").
  supported: { 'dynamic-import': false },
  plugins: [englishZodOnly, sdkFromGroups],
  // The bundle runs as a script: what the sources read from `import.meta.url` is the bundle's own URL. It is told
  // its workers' names, so a daemon never starts another build's worker.
  define: {
    AI_AUDIT_VERIFY_WORKER: JSON.stringify(workerFile.verify),
    CONTENT_CIPHER_WORKER: JSON.stringify(`./cli-chunks/${workerFile.cipher}`),
    'import.meta.url': '__bundleUrl',
  },
  banner: { js: "var __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The executable: small, an ES module (the package is `"type": "module"`), no cache of its own needed.
await build({
  ...node,
  entryPoints: { cli: 'daemon/cli/cliLoader.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  banner: { js: '#!/usr/bin/env node' },
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
