import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export interface WebviewPage {
  /** The bundle folder (dist/webview), the webview's only local resource root. */
  bundle: vscode.Uri;
  /** Script and stylesheet of the page, file names inside `bundle`. */
  script: string;
  style: string;
  title: string;
  /** Extra image sources besides the bundle (the chat renders data: images of its markdown). */
  imageSources?: string[];
}

/**
 * The HTML of one of our webviews: a strict CSP (nothing but the bundle, scripts only with a fresh nonce), the
 * bundled codicons and the page's own script and stylesheet, with an empty `#app` for the script to fill.
 */
export function webviewHtml(webview: vscode.Webview, page: WebviewPage): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(page.bundle, name)).toString();
  const csp = [
    "default-src 'none'",
    `img-src ${[webview.cspSource, ...(page.imageSources ?? [])].join(' ')}`,
    `font-src ${webview.cspSource}`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('codicon.css')}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${asset(page.style)}">
<title>${page.title}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${asset(page.script)}"></script>
</body>
</html>`;
}
