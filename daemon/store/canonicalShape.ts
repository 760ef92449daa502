import { z } from 'zod';
import { canonicalJson, canonicalObject } from './canonicalJson.ts';

/**
 * The members an object schema allows, in canonical order, with `"key":` and `,"key":` ready and the shape
 * of each member that is itself an object schema. Entries are made of a few such objects (actor, scanner,
 * content…): writing their members in this order gives canonical JSON without listing and sorting their
 * keys per object, which was most of `canonicalObject`'s time on ingest.
 */
export interface CanonicalShape {
  readonly keys: readonly string[];
  readonly first: readonly string[];
  readonly later: readonly string[];
  readonly nested: ReadonlyArray<CanonicalShape | null>;
}

/** The shape of a zod object schema (optional members unwrapped); maps and records have none. */
export function shapeOf(schema: z.ZodObject): CanonicalShape {
  // Keys sort by UTF-16 code units, as canonicalObject sorts them (`sort()` without a comparator).
  const keys = Object.keys(schema.shape).sort();
  return {
    keys,
    first: keys.map((key) => JSON.stringify(key) + ':'),
    later: keys.map((key) => ',' + JSON.stringify(key) + ':'),
    nested: keys.map((key) => {
      let member: unknown = schema.shape[key];
      while (member instanceof z.ZodOptional) member = member.unwrap();
      return member instanceof z.ZodObject ? shapeOf(member) : null;
    }),
  };
}

/**
 * Canonical JSON of `record`, with its members written in `shape`'s order. Exactly `canonicalJson(record)`:
 * a record with any member the shape does not list, or with an inherited one, is serialized by sorting its
 * own keys as `canonicalObject` does.
 */
export function canonicalShaped(record: Record<string, unknown>, shape: CanonicalShape): string {
  const { keys, first, later, nested } = shape;
  let out = '{';
  let written = 0;
  for (let i = 0; i < keys.length; i++) {
    const item = record[keys[i] as string];
    if (item === undefined) continue;
    out += written++ === 0 ? first[i] : later[i];
    const inner = nested[i];
    out += inner !== null && inner !== undefined && isPlainRecord(item) ? canonicalShaped(item, inner) : canonicalJson(item);
  }
  if (written !== ownDefinedMembers(record)) return canonicalObject(record);
  return out + '}';
}

/**
 * Members whose value is not undefined, as `for…in` lists them, or -1 if one of them is inherited. Every
 * member the shape wrote is among them (shapes name no built-in properties), so an equal count means the
 * shape wrote exactly the record's own members: what `canonicalObject` writes.
 */
function ownDefinedMembers(record: Record<string, unknown>): number {
  let count = 0;
  for (const key in record) {
    if (record[key] === undefined) continue;
    if (!Object.hasOwn(record, key)) return -1;
    count++;
  }
  return count;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
