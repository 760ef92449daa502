// Bundles the product with esbuild (type-checking is `tsc -b`, a separate step):
//   dist/cli.mjs            the `ai-audit` CLI and daemon (Node, ESM)
//   dist/extension.cjs      the VS Code extension (Node, CommonJS, `vscode` external)
//   dist/webview/chat.js    the chat webview (browser, IIFE) with chat.css and the codicon font
//   dist/webview/auditLog.js  the audit log viewer (browser, IIFE) with auditLog.css
// A native module cannot be bundled: @napi-rs/keyring is loaded from node_modules (shipped in the .vsix).
import { build } from 'esbuild';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

const node = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', external: ['@napi-rs/keyring'] };

await build({
  ...node,
  entryPoints: { cli: 'daemon/cli/aiAudit.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
await chmod('dist/cli.mjs', 0o755);

if (existsSync('extension/extensionMain.ts')) {
  await build({ ...node, entryPoints: { extension: 'extension/extensionMain.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' }, format: 'cjs', external: ['vscode', '@napi-rs/keyring'] });
}
{
  await mkdir('dist/webview', { recursive: true });
  await build({ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: true, logLevel: 'warning', entryPoints: { chat: 'webview/chat/chatView.ts', auditLog: 'webview/auditLog/auditLogView.ts' }, outdir: 'dist/webview' });
  await copyFile('webview/chat/chatView.css', 'dist/webview/chat.css');
  await copyFile('webview/auditLog/auditLog.css', 'dist/webview/auditLog.css');
  await copyFile('node_modules/@vscode/codicons/dist/codicon.css', 'dist/webview/codicon.css');
  await copyFile('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/webview/codicon.ttf');
}
