import { Builder, Parser } from 'xml2js';

/**
 * XML in and out for the Numbers API (xml2js). Documents are parsed with `explicitArray`, so
 * every element is a list: a one-item list and a many-item list look the same to callers.
 * Answers are read by element name wherever they sit (Bandwidth's response wrappers differ
 * per endpoint and between documentation and reality), never by a fixed path.
 */

export type XmlNode = Readonly<Record<string, unknown>>;

export interface XmlDocument {
  readonly rootName: string;
  readonly root: XmlNode;
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value.trim();
  if (isNode(value) && typeof value['_'] === 'string') return value['_'].trim();
  return null;
}

/** Parses an answer body. Fails closed on DTDs (no entity expansion is ever attempted). */
export async function parseXml(text: string): Promise<XmlDocument | null> {
  if (text.trim() === '' || /<!DOCTYPE|<!ENTITY/i.test(text)) return null;
  let document: unknown;
  try {
    document = await new Parser({
      explicitArray: true,
      explicitRoot: true,
      strict: true,
      emptyTag: '',
    }).parseStringPromise(text);
  } catch {
    return null;
  }
  if (!isNode(document)) return null;
  const rootName = Object.keys(document)[0];
  if (rootName === undefined) return null;
  const root = document[rootName];
  return { rootName, root: isNode(root) ? root : {} };
}

/** Child elements named `name` (direct children only). */
export function children(node: XmlNode, name: string): XmlNode[] {
  const values = node[name];
  return Array.isArray(values) ? values.filter(isNode) : [];
}

/** Text of the first direct child named `name`; null when absent or empty. */
export function childText(node: XmlNode, name: string): string | null {
  const values = node[name];
  if (!Array.isArray(values)) return null;
  const text = textOf(values[0]);
  return text === null || text === '' ? null : text;
}

/** Breadth-first: the first element named one of `names`, at any depth. */
export function findElement(node: XmlNode, names: readonly string[]): unknown {
  let level: XmlNode[] = [node];
  while (level.length > 0) {
    for (const candidate of level) {
      for (const name of names) {
        const values = candidate[name];
        if (Array.isArray(values) && values.length > 0) return values[0];
      }
    }
    const next: XmlNode[] = [];
    for (const candidate of level) {
      for (const [key, values] of Object.entries(candidate)) {
        if (key === '$' || key === '_' || !Array.isArray(values)) continue;
        for (const value of values) if (isNode(value)) next.push(value);
      }
    }
    level = next;
  }
  return undefined;
}

/** Text of the first element named one of `names`, at any depth; null when absent or empty. */
export function findText(node: XmlNode, names: readonly string[]): string | null {
  const text = textOf(findElement(node, names));
  return text === null || text === '' ? null : text;
}

/** Every element named `name` at any depth (document order within each level). */
export function findAll(node: XmlNode, name: string): XmlNode[] {
  const out: XmlNode[] = [];
  const visit = (current: XmlNode): void => {
    for (const [key, values] of Object.entries(current)) {
      if (key === '$' || key === '_' || !Array.isArray(values)) continue;
      for (const value of values) {
        if (!isNode(value)) continue;
        if (key === name) out.push(value);
        visit(value);
      }
    }
  };
  visit(node);
  return out;
}

/** An element tree to serialise: text, nested elements, or a list of repeated elements. */
export type XmlValue = string | number | { readonly [name: string]: XmlValue | undefined } | readonly XmlValue[];

/** Serialises `{ Root: {...} }`; undefined fields are left out (Bandwidth resets omitted fields on PUT). */
export function buildXml(rootName: string, content: { readonly [name: string]: XmlValue | undefined }): string {
  const prune = (value: XmlValue): unknown => {
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    if (Array.isArray(value)) return (value as readonly XmlValue[]).map(prune);
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value as { readonly [name: string]: XmlValue | undefined })) {
      if (child !== undefined) out[key] = prune(child);
    }
    return out;
  };
  return new Builder({
    rootName,
    renderOpts: { pretty: false },
    xmldec: { version: '1.0', encoding: 'UTF-8', standalone: true },
  }).buildObject(prune(content));
}
