/**
 * Strings an attacker can get into the audit log (prompts, model names, file names, metadata), for
 * checking that a view renders them inert. Every payload that would run script sets
 * `window.__pwned` or opens a dialog, and every payload that would load something points at
 * `PWNED_HOST`, so a test can watch for all three.
 */
export const PWNED_HOST = 'pwned.invalid';

export const HOSTILE_STRINGS: readonly string[] = [
  '<script>window.__pwned=1;alert(1)</script>',
  '<img src=x onerror="window.__pwned=1;alert(document.domain)">',
  '<svg onload="window.__pwned=1"><circle r=9 /></svg>',
  '"><iframe src="javascript:window.top.__pwned=1"></iframe>',
  `<a href="javascript:window.__pwned=1">click</a> <a href="data:text/html,<script>alert(1)</script>">data</a>`,
  `<style>@import url("https://${PWNED_HOST}/x.css"); body{background:url(https://${PWNED_HOST}/bg.png)}</style>`,
  `</td></tr></table><div style="position:fixed;inset:0;background:url(//${PWNED_HOST}/a.png)">overlay</div>`,
  `<img src="https://${PWNED_HOST}/beacon.gif">`,
  `<link rel=stylesheet href="https://${PWNED_HOST}/s.css"><meta http-equiv="refresh" content="0;url=https://${PWNED_HOST}/">`,
  '{{constructor.constructor("window.__pwned=1")()}}',
  'expression(alert(1)) ;color:red;}</style><script>alert(2)</script>',
  'admin\u202Egnp.exe bidi \u2066override\u2069 zero\u200Bwidth \uFEFF bom',
  '\u0000\u0007\u001b[31mterminal escape\u001b[0m',
];

/** A 1 MB string that also carries markup, for prompts (encrypted content can hold it). */
export function megabyteString(): string {
  const unit = '<script>window.__pwned=1</script><img src=x onerror=alert(1)>\u202E';
  return unit.repeat(Math.ceil(1_048_576 / unit.length)).slice(0, 1_048_576);
}
