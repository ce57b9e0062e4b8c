/**
 * The shape of what a caller gives the configuration, checked before the schema: sections that are plain objects
 * (a section of another type would merge to nothing and the defaults serve silently), and host names without a port.
 * Invariant: a refusal is CONFIG_INVALID naming where the value sits.
 */
import { isIP } from 'node:net';
import { LayercacheError } from '../errors/index.ts';

/** A host name (letters, digits, '-', '_', dots; a final dot allowed) or an IP address, with no port. */
export function isHostName(h: string): boolean {
  const bare = h.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return true;
  return h === bare && /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/.test(h);
}

/** An object of settings (from code it may be anything): not a plain object, it is refused, naming where. */
function requireObject(value: unknown, where: string): void {
  // Plain objects only: a Map, a Date or an array spreads to nothing, as a number does.
  const proto = value !== null && typeof value === 'object' ? Object.getPrototypeOf(value) as unknown : undefined;
  if (proto === Object.prototype || proto === null) return;
  const shown = typeof value === 'number' || typeof value === 'bigint' ? String(value)
    : proto !== undefined && !Array.isArray(value) ? `a ${(value as object).constructor?.name ?? 'object'}`
    : JSON.stringify(value) ?? String(value);
  const example = where === '(root)' ? 'loadConfig({ serve: { port: 8080 } })' : where.split('.').reduceRight((inner, key) => `{ ${key}: ${inner} }`, '{ … }');
  throw new LayercacheError('CONFIG_INVALID', `configuration ${where} is ${shown}, not an object of settings; give e.g. ${example}`, { setting: { path: where, value, problem: 'expected an object' } });
}

/**
 * The overrides and each section in them are objects: merged section by section, a section of another type (engine: 5,
 * serve: []) spread to nothing and the defaults served silently.
 */
export function requireSections(overrides: unknown): void {
  requireObject(overrides, '(root)');
  const o = overrides as Record<string, unknown>;
  for (const key of ['engine', 'build', 'preprocess', 'serve'] as const) if (o[key] !== undefined) requireObject(o[key], key);
  const serve = o.serve as Record<string, unknown> | undefined;
  if (serve?.online !== undefined) requireObject(serve.online, 'serve.online');
}
