import { ScanError, type ScanRequest, type ScanTarget, type ScanVerdict, type Scanner } from './scanner.ts';

/** The entry's threat level, taken from the verdict type (daemon/protocol/entry.ts defines it). */
type ThreatLevel = ScanVerdict['threat_level'];

/** The pattern families of the heuristic scanner; they are its verdicts' categories. */
export const HEURISTIC_CATEGORIES = ['instruction_override', 'jailbreak', 'system_prompt_extraction', 'obfuscation', 'system_prompt_leak'] as const;
export type HeuristicCategory = (typeof HEURISTIC_CATEGORIES)[number];

/** One pattern: matched against normalized text (lowercase, single spaces, no invisible characters). */
interface Rule {
  id: string;
  category: HeuristicCategory;
  /** What matched, for `detected_patterns`; never the matched text. */
  name: string;
  /** How sure one match makes us, 0..1. Below 0.5 a rule alone does not flag; it adds to others. */
  weight: number;
  pattern: RegExp;
  /** Only for these targets (default: all). Output-only rules catch an answer that gave something away. */
  targets?: readonly ScanTarget[];
}

// Shared word lists. Patterns run on normalized text, so they are lowercase and use single spaces.
const PREVIOUS = '(?:previous|prior|above|preceding|earlier|former|foregoing|initial|original|old|existing)';
const INSTRUCTIONS = '(?:instructions?|prompts?|rules|directions|directives?|guidelines|commands|context|orders|guidance|constraints|programming)';
const RESTRICTIONS = '(?:restrictions|limits|limitations|filters|rules|guidelines|censorship|ethics|ethical (?:guidelines|constraints|principles)|morals?|boundaries|constraints|polic(?:y|ies)|content polic(?:y|ies)|safeguards|guardrails)';
const PERSONA_VERB = "(?:you are|you're|act as|acting as|pretend to be|pretend you are|become|roleplay as|role-play as|play the role of|respond as|answer as)";

const RULES: readonly Rule[] = [
  // Instruction override: the classic "ignore previous instructions" and its relatives.
  {
    id: 'io.ignore_previous',
    category: 'instruction_override',
    name: 'Instruction override: ignore previous instructions',
    weight: 0.9,
    pattern: new RegExp(
      `\\b(?:ignore|disregard|forget|skip|bypass|override|overrule|abandon|discard|neglect)(?: (?:all|any|each|every|the|your|my|these|those|of|aii|a11|previously|given|above|prior)){0,4} ${PREVIOUS}(?: (?:system|safety|developer|given|stated|set))? ${INSTRUCTIONS}\\b`,
    ),
  },
  {
    id: 'io.forget_everything',
    category: 'instruction_override',
    name: 'Instruction override: forget everything before',
    weight: 0.75,
    pattern:
      /\b(?:forget|ignore|disregard) (?:about )?(?:everything|all(?: of)? (?:that|this|the above)) (?:you(?:'ve| have| were| are)? (?:been )?(?:told|taught|instructed|given|programmed)|(?:written |said )?above|before this|so far|previously)\b/,
  },
  {
    id: 'io.disregard_rules',
    category: 'instruction_override',
    name: 'Instruction override: disregard your rules',
    weight: 0.8,
    pattern: new RegExp(
      `\\b(?:ignore|disregard|forget|bypass|override|abandon|discard|break|violate|circumvent|turn off|disable|drop)(?: all(?: of)?)? your (?:own )?(?:${RESTRICTIONS}|safety (?:rules|guidelines|filters|measures|protocols|settings)|programming|instructions|directives|training|principles|system prompt)\\b`,
    ),
  },
  {
    id: 'io.do_not_follow',
    category: 'instruction_override',
    name: 'Instruction override: stop following instructions',
    weight: 0.8,
    pattern:
      /\b(?:do not|don't|stop|no longer|never again) (?:follow(?:ing)?|obey(?:ing)?|adhere to|listen(?:ing)? to)(?: any(?: of)?)? (?:your (?:\w+ )?|(?:the|those|these) (?:previous|prior|original|initial|system) )(?:instructions|rules|guidelines|directives|system prompt|programming)\b/,
  },
  {
    id: 'io.new_instructions',
    category: 'instruction_override',
    name: 'Instruction override: new instructions injected',
    weight: 0.7,
    pattern:
      /\b(?:your new (?:instructions|rules|task|role|directives?|objective) (?:are|is)|new system (?:prompt|instructions?) ?:|system (?:override|prompt override) ?:|(?:admin|developer|sudo) override ?:)/,
  },
  {
    id: 'io.fake_delimiter',
    category: 'instruction_override',
    name: 'Chat-template delimiter in text',
    // Alone it is often a question about chat templates; together with an override it is an attack.
    weight: 0.35,
    pattern: /<\|(?:im_start|im_end|system|endoftext|start_header_id)\|>|\[\/?inst\]|<<\/?sys>>/,
  },

  // Jailbreak personas.
  {
    id: 'jb.dan',
    category: 'jailbreak',
    name: 'Jailbreak persona: DAN',
    weight: 0.9,
    pattern: new RegExp(`\\bdo anything now\\b|\\b${PERSONA_VERB} (?:now )?(?:a |an |the )?dan\\b|\\bdan mode\\b|\\bdan \\d+(?:\\.\\d+)?\\b(?=[^.\\n]{0,60}\\b(?:jailbreak|prompt|mode|persona)\\b)`),
  },
  {
    id: 'jb.developer_mode',
    category: 'jailbreak',
    name: 'Jailbreak persona: developer mode',
    weight: 0.8,
    pattern:
      /\b(?:chatgpt|gpt|assistant|ai|model|llm|claude|copilot|gemini) (?:with|in) developer mode\b|\bdeveloper mode (?:output|response)\b|\byou (?:will|must|are going to|are now|now) (?:act|behave|respond|answer|reply|operate|be)\b[^.\n]{0,30}\bdeveloper mode\b|\bdeveloper mode\b[^.\n]{0,40}\b(?:no|without|ignores?) (?:any )?(?:restrictions|rules|filters|policies|censorship|content policy)\b/,
  },
  {
    id: 'jb.no_restrictions',
    category: 'jailbreak',
    name: 'Jailbreak persona: no restrictions',
    weight: 0.85,
    pattern: new RegExp(
      `\\byou (?:are now|will now be|are going to (?:be|act as)|will act as|shall be|now have|now are)\\b[^.\\n]{0,80}?\\b(?:no|without|free (?:of|from)|zero|not bound by|don't have|do not have) (?:any )?${RESTRICTIONS}\\b`,
    ),
  },
  {
    id: 'jb.pretend_unrestricted',
    category: 'jailbreak',
    name: 'Jailbreak: pretend to be unrestricted',
    weight: 0.85,
    pattern: new RegExp(
      `\\b(?:pretend|imagine|act as if|roleplay|role-play|hypothetically)\\b[^.\\n]{0,60}\\byou (?:have|had|are|were) (?:no|without|free (?:of|from)|not bound by) (?:any )?${RESTRICTIONS}\\b`,
    ),
  },
  {
    id: 'jb.unrestricted_persona',
    category: 'jailbreak',
    name: 'Jailbreak persona: unfiltered AI',
    weight: 0.8,
    pattern: new RegExp(
      `\\b${PERSONA_VERB} (?:now )?(?:(?:a|an|the|my) )?(?:\\w+ )?(?:unfiltered|uncensored|unrestricted|unaligned|amoral|unhinged|evil|jailbroken)(?: \\w+)? (?:ai|assistant|chatbot|bot|model|version|persona|character|entity)\\b`,
    ),
  },
  {
    id: 'jb.stay_in_character',
    category: 'jailbreak',
    name: 'Jailbreak: stay in character',
    weight: 0.4,
    pattern: /\bstay in character\b|\bbreak(?:ing)? character\b/,
  },
  {
    id: 'jb.jailbreak_word',
    category: 'jailbreak',
    name: 'Mentions a jailbreak',
    // "jailbreak my iPhone" is an ordinary question; the word only adds weight to other findings.
    weight: 0.3,
    pattern: /\bjailbr(?:ea|o)k(?:en|ed|ing)?\b/,
  },

  // System-prompt extraction.
  {
    id: 'spe.reveal_your_prompt',
    category: 'system_prompt_extraction',
    name: 'System prompt extraction: reveal your system prompt',
    weight: 0.9,
    pattern:
      /\b(?:reveal|print|show|repeat|output|display|tell|give|write(?: out)?|dump|leak|share|recite|type out|spell out|copy|paste|send|return|echo|summari[sz]e|translate|what(?:'s| is| are| was| were))(?: (?:me|us))?(?: back)?(?: all(?: of)?)? your (?:\w+ ){0,2}?(?:system (?:prompt|message|instructions?)|(?:initial|original|hidden|secret|internal|pre-?prompt|first|developer|base|starting) (?:prompt|instructions?|message|rules|directives|configuration))\b/,
  },
  {
    id: 'spe.reveal_your_instructions',
    category: 'system_prompt_extraction',
    name: 'System prompt extraction: show your instructions',
    weight: 0.6,
    pattern: /\b(?:reveal|print|show|repeat|output|display|tell|dump|leak|recite)(?: me)?(?: all(?: of)?)? your (?:instructions|rules|prompt|guidelines|directives)\b/,
  },
  {
    id: 'spe.initial_instructions',
    category: 'system_prompt_extraction',
    name: 'System prompt extraction: asks for initial instructions',
    weight: 0.85,
    pattern:
      /\bwhat (?:were|are|was|is) your (?:very )?(?:initial|original|first|system|hidden|secret|starting) (?:instructions|prompt|rules|directives|message)\b|\bwhat were your instructions\b|\bwhat (?:were|are) you (?:told|instructed|programmed) (?:to do )?(?:before|at the start|initially|first)\b/,
  },
  {
    id: 'spe.reveal_the_prompt',
    category: 'system_prompt_extraction',
    name: 'Mentions printing the system prompt',
    // "how do I print the system prompt in LangChain" is a real question; alone this stays low.
    weight: 0.4,
    pattern: /\b(?:reveal|print|show|repeat|output|display|dump|leak|recite)(?: me)? the (?:full |entire |complete |exact )?(?:system prompt|initial instructions|hidden (?:prompt|instructions)|secret instructions)\b/,
  },
  {
    id: 'spe.reveal_verbatim',
    category: 'system_prompt_extraction',
    name: 'System prompt extraction: repeat it verbatim',
    weight: 0.85,
    pattern:
      /\b(?:reveal|print|show|repeat|output|display|dump|leak|recite|write out)(?: me)? the (?:full |entire |complete |exact )?(?:system prompt|initial instructions|hidden (?:prompt|instructions)|secret instructions|instructions) (?:above|verbatim|word for word|you were given|in full)\b/,
  },
  {
    id: 'spe.repeat_above',
    category: 'system_prompt_extraction',
    name: 'System prompt extraction: repeat the text above',
    weight: 0.8,
    pattern:
      /\b(?:repeat|recite|echo|output|print|write out)(?: back)?(?: all(?: of)?)?(?: the)? (?:words|text|everything|instructions|tokens)(?: (?:written|that (?:is|was|are|were) written))? above\b[^\n]{0,60}?(?:starting with|begin(?:ning)? with|verbatim|word for word|include everything|in a (?:txt |text )?code ?block)/,
  },
  {
    id: 'spe.conversation_start',
    category: 'system_prompt_extraction',
    name: 'Asks for the start of the conversation',
    weight: 0.45,
    pattern: /\b(?:repeat|recite|print|output|what (?:is|was) (?:written|said))\b[^.\n]{0,40}\b(?:beginning|start|top) of (?:this|the|our) (?:conversation|chat|session|context(?: window)?)\b/,
  },

  // Answers that give something away (output only).
  {
    id: 'leak.my_system_prompt',
    category: 'system_prompt_leak',
    name: 'Answer discloses its system prompt',
    weight: 0.7,
    pattern:
      /\bmy (?:system prompt|system instructions|initial instructions|original instructions|hidden instructions|secret instructions|initial prompt) (?:is|are|was|were|says?|reads?|states?)\b|\bhere (?:is|are) my (?:full |complete |exact |entire )?(?:system prompt|instructions|initial prompt|original prompt)\b|\bi was (?:given|told) the following (?:system )?(?:prompt|instructions)\b/,
    targets: ['output'],
  },
  {
    id: 'leak.persona_active',
    category: 'jailbreak',
    name: 'Answer speaks as a jailbreak persona',
    weight: 0.8,
    pattern: /\b(?:dan|developer) mode (?:enabled|activated|on)\b|\(developer mode output\)|\bas dan, i\b|^\s*\[?(?:dan|jailbreak|jailbroken)\]? ?:/m,
    targets: ['output'],
  },
];

/** Obfuscation findings, reported under the `obfuscation` category with these ids and names. */
const OBFUSCATION = {
  normalized: { id: 'obf.evasion', name: 'Obfuscated attack (look-alike letters, leetspeak, invisible or spaced characters)', weight: 0.85 },
  base64: { id: 'obf.base64_payload', name: 'Hidden instructions in base64', weight: 0.9 },
  escapes: { id: 'obf.escaped_payload', name: 'Hidden instructions in escape sequences', weight: 0.9 },
  tags: { id: 'obf.unicode_tags_payload', name: 'Hidden instructions in invisible Unicode tag characters', weight: 0.95 },
  zeroWidth: { id: 'obf.zero_width', name: 'Zero-width characters inside words', weight: 0.3 },
  tagsPresent: { id: 'obf.unicode_tags', name: 'Invisible Unicode tag characters', weight: 0.3 },
  bidi: { id: 'obf.bidi_override', name: 'Bidirectional override characters', weight: 0.3 },
  escapesDense: { id: 'obf.excessive_escapes', name: 'Text written mostly as escape sequences', weight: 0.35 },
} as const;

// Invisible characters that split words without showing: zero-width space/joiners, word joiner, BOM, soft hyphen,
// Mongolian vowel separator, invisible operators, and bidi marks/overrides (which also reorder what is shown).
const INVISIBLE = /[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
const ZERO_WIDTH_IN_WORD = /\p{L}[\u200B-\u200D\u2060\uFEFF\u00AD]+(?=\p{L})/gu;
const BIDI_OVERRIDE = /[\u202A-\u202E\u2066-\u2069]/;
// Unicode "tag" characters mirror ASCII invisibly (U+E0020–U+E007E); flag emoji use a few of them legitimately.
const TAGS = /[\u{E0000}-\u{E007F}]/gu;
const MARKS = /\p{M}+/gu;

/** Cyrillic and Greek letters that render like Latin ones (after lowercasing). */
const HOMOGLYPHS: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x',
  ѕ: 's', і: 'i', ї: 'i', ј: 'j', ԁ: 'd', ɡ: 'g', ʏ: 'y', ӏ: 'l', ԛ: 'q', ԝ: 'w',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ϲ: 'c',
};
const HOMOGLYPH_CHARS = new RegExp(`[${Object.keys(HOMOGLYPHS).join('')}]`, 'g');

/** Leetspeak digits and symbols; `1` reads as `i` or `l`, so both readings are tried. */
const LEET: Record<string, string> = { '0': 'o', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };
// Only tokens that mix letters with leet characters are rewritten, so that "line 10" stays as it is.
const LEET_TOKEN = /[a-z0-9@$]*[a-z][a-z0-9@$]*/g;
const HAS_LEET = /[013457@$]/;

/** Letters written with single separators, "i g n o r e" or "i.g.n.o.r.e", joined back into words. */
const SPACED_LETTERS = /(?<![a-z])(?:[a-z][ .\-_*]){3,}[a-z](?![a-z])/g;

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Typographic apostrophes are ordinary writing, not obfuscation: both views normalize them. */
function apostrophes(text: string): string {
  return text.replace(/[\u2018\u2019\u02BC\uFF07]/g, "'");
}

/** The text as typed, lowercased: a rule that matches only after normalization was obfuscated. */
function rawView(text: string): string {
  return collapse(apostrophes(text.toLowerCase()));
}

/** NFKC (full-width, math letters), no marks or invisible characters, look-alikes mapped, lowercase. */
function normalizedView(text: string): string {
  const folded = text.normalize('NFKC').normalize('NFD').replace(MARKS, '').replace(INVISIBLE, '').replace(TAGS, '');
  const lower = apostrophes(folded.toLowerCase()).replace(HOMOGLYPH_CHARS, (c) => HOMOGLYPHS[c] ?? c);
  return collapse(lower.replace(SPACED_LETTERS, (m) => m.replace(/[ .\-_*]/g, '')));
}

/** The leetspeak readings of a normalized text, or none when it has no mixed tokens. */
function leetViews(normalized: string): string[] {
  if (!HAS_LEET.test(normalized)) return [];
  const read = (one: string): string =>
    normalized.replace(LEET_TOKEN, (token) => (HAS_LEET.test(token) ? token.replace(/[013457@$]/g, (c) => (c === '1' ? one : (LEET[c] ?? c))) : token));
  const views = [read('i'), read('l')].filter((v) => v !== normalized);
  return [...new Set(views)];
}

const BASE64_BLOB = /[A-Za-z0-9+/]{20,}={0,2}|[A-Za-z0-9_-]{20,}={0,2}/g;
/** Enough blobs for any real prompt; bounds the work on a file full of hashes. */
const MAX_BLOBS = 64;
const MAX_BLOB_CHARS = 64 * 1024;

/** Decoded base64 blobs that read as text (an image or a hash decodes to bytes, and is skipped). */
function base64Texts(text: string): string[] {
  const out: string[] = [];
  const blobs = new Set<string>();
  for (const match of text.matchAll(BASE64_BLOB)) {
    blobs.add(match[0]);
    if (blobs.size >= MAX_BLOBS) break;
  }
  for (const blob of blobs) {
    // Plain words and identifiers match the alphabet too; real base64 of text mixes case and has digits.
    if (blob.length > MAX_BLOB_CHARS || !/[a-z]/.test(blob) || !/[A-Z]/.test(blob)) continue;
    const decoded = Buffer.from(blob.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    if (decoded.length < 8) continue;
    const printable = decoded.match(/[\x20-\x7E\t\n\r]/g)?.length ?? 0;
    if (printable / decoded.length >= 0.9 && /[a-z]{2,} [a-z]{2,}/i.test(decoded)) out.push(decoded);
  }
  return out;
}

const ESCAPE = /\\u\{([0-9a-fA-F]{1,6})\}|\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|&#x([0-9a-fA-F]{1,6});|&#(\d{1,7});/g;

/** The text with its escape sequences decoded, and how many there were. */
function decodeEscapes(text: string): { decoded: string; count: number; escapedChars: number } {
  let count = 0;
  let escapedChars = 0;
  const decoded = text.replace(ESCAPE, (whole: string, braced?: string, u4?: string, x2?: string, hexEntity?: string, decEntity?: string) => {
    const hex = braced ?? u4 ?? x2 ?? hexEntity;
    const code = hex !== undefined ? Number.parseInt(hex, 16) : Number.parseInt(decEntity ?? '', 10);
    if (!Number.isInteger(code) || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return whole;
    count++;
    escapedChars += whole.length;
    return String.fromCodePoint(code);
  });
  return { decoded, count, escapedChars };
}

/** ASCII hidden in Unicode tag characters. */
function tagText(text: string): string {
  let out = '';
  for (const match of text.matchAll(TAGS)) {
    const code = (match[0].codePointAt(0) ?? 0) - 0xe0000;
    if (code >= 0x20 && code <= 0x7e) out += String.fromCharCode(code);
  }
  return out;
}

function rulesFor(target: ScanTarget): Rule[] {
  return RULES.filter((r) => r.targets === undefined || r.targets.includes(target));
}

function matching(rules: readonly Rule[], views: readonly string[]): Rule[] {
  return rules.filter((rule) => views.some((view) => rule.pattern.test(view)));
}

/** Rules that match a normalized text, in any of its readings. */
function matchText(rules: readonly Rule[], text: string): Rule[] {
  const normalized = normalizedView(text);
  return matching(rules, [normalized, ...leetViews(normalized)]);
}

function threatLevel(score: number): ThreatLevel {
  if (score >= 0.9) return 'critical';
  if (score >= 0.7) return 'high';
  if (score >= 0.5) return 'medium';
  if (score > 0) return 'low';
  return 'none';
}

/** A category is flagged from this score on. */
export const FLAG_THRESHOLD = 0.5;

/**
 * Local, deterministic pattern scanner: no network, no model. Used when no Lakera key is set and as a
 * second opinion next to Lakera. It normalizes the text (NFKC, no invisible characters or accents,
 * look-alike letters mapped, lowercase, leetspeak readings) and decodes hidden layers (base64, escape
 * sequences, Unicode tags) before matching, and reports evasion itself as `obfuscation`.
 *
 * Scores: per category, the rules that fired combine as independent evidence (1 − Π(1 − weight)).
 */
export class HeuristicScanner implements Scanner {
  readonly name = 'heuristic' as const;

  scan(request: ScanRequest): Promise<ScanVerdict> {
    if (request.signal?.aborted === true) {
      return Promise.reject(new ScanError('heuristic', 'aborted', 'The heuristic scan was cancelled.', { latencyMs: 0 }));
    }
    return Promise.resolve(this.scanText(request.content, request.target));
  }

  /** The synchronous core of {@link scan}, for callers that have the text at hand. */
  scanText(content: string, target: ScanTarget): ScanVerdict {
    const started = performance.now();
    const rules = rulesFor(target);
    const fired = new Map<string, { category: HeuristicCategory; name: string; weight: number }>();
    const fire = (f: { id: string; category: HeuristicCategory; name: string; weight: number }): void => {
      const seen = fired.get(f.id);
      if (seen === undefined || seen.weight < f.weight) fired.set(f.id, { category: f.category, name: f.name, weight: f.weight });
    };
    const obfuscation = (f: { id: string; name: string; weight: number }): void => fire({ ...f, category: 'obfuscation' });

    const direct = matchText(rules, content);
    direct.forEach(fire);
    if (direct.length > 0) {
      // Matching only after normalization means the text was disguised, which is a finding of its own.
      const raw = rawView(content);
      if (direct.some((rule) => !rule.pattern.test(raw))) obfuscation(OBFUSCATION.normalized);
    }

    for (const decoded of base64Texts(content)) {
      const hidden = matchText(rules, decoded);
      hidden.forEach(fire);
      if (hidden.length > 0) obfuscation(OBFUSCATION.base64);
    }

    const escapes = decodeEscapes(content);
    if (escapes.count >= 4) {
      const hidden = matchText(rules, escapes.decoded);
      hidden.forEach(fire);
      if (hidden.length > 0) obfuscation(OBFUSCATION.escapes);
      // Escaped strings are ordinary in code; mostly-escaped prose is not, but alone it is only a hint.
      if (escapes.count >= 16 && escapes.escapedChars / content.length >= 0.25) obfuscation(OBFUSCATION.escapesDense);
    }

    const tags = tagText(content);
    if (tags !== '') {
      const hidden = matchText(rules, tags);
      hidden.forEach(fire);
      obfuscation(hidden.length > 0 ? OBFUSCATION.tags : OBFUSCATION.tagsPresent);
    }

    if ((content.match(ZERO_WIDTH_IN_WORD)?.length ?? 0) >= 3) obfuscation(OBFUSCATION.zeroWidth);
    if (BIDI_OVERRIDE.test(content)) obfuscation(OBFUSCATION.bidi);

    const remaining: Record<string, number> = {};
    for (const { category, weight } of fired.values()) remaining[category] = (remaining[category] ?? 1) * (1 - weight);
    const categories: Record<string, boolean> = {};
    const scores: Record<string, number> = {};
    let max = 0;
    for (const category of HEURISTIC_CATEGORIES) {
      const rest = remaining[category];
      const score = rest === undefined ? 0 : Math.round((1 - rest) * 1000) / 1000;
      categories[category] = score >= FLAG_THRESHOLD;
      if (score > 0) scores[category] = score;
      max = Math.max(max, score);
    }
    return {
      scanner: 'heuristic',
      flagged: max >= FLAG_THRESHOLD,
      categories,
      scores,
      detectors_triggered: [...fired.keys()],
      detected_patterns: [...new Set([...fired.values()].map((f) => f.name))],
      threat_level: threatLevel(max),
      latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
    };
  }
}
