/**
 * Which model and version a request names, and whether the version that answered it is one it may take: the
 * `/versions/{v}` routes pin a version, and a hot swap may land between a request's arrival and its rows' run.
 * Invariant: a pinned request is answered by its version or refused with 404 MODEL_NOT_FOUND, never by another.
 */
import type { FastifyRequest } from 'fastify';
import { LayercacheError } from '../errors/index.ts';

/** The served model's name and the version serving now. */
export interface Served {
  readonly name: string;
  readonly servingVersion: () => number;
}

/** Refuses a request for `version` of model `name`, which this server no longer (or never) served. */
function versionGone(served: Served, name: string, version: string): LayercacheError {
  return new LayercacheError('MODEL_NOT_FOUND', `version '${version}' of model '${name}' is not served here; it serves version ${served.servingVersion()} (online learning replaces versions; leave the version out to reach the serving one)`);
}

/**
 * Checks the model name (and, on the /versions/{v} routes, the version) the request names. Returns the version the
 * request pins (null when it names none): a hot swap may land before its rows run, and then it is refused, not answered
 * by another version (see `answeredAs`).
 */
export function modelOf(served: Served, req: FastifyRequest): string | null {
  const { name, version } = req.params as { name: string; version?: string };
  if (name !== served.name) throw new LayercacheError('MODEL_NOT_FOUND', `model '${name}' is not served here; this server serves '${served.name}'`);
  if (version !== undefined && version !== String(served.servingVersion())) throw versionGone(served, name, version);
  return version ?? null;
}

/** An answer from version `answered` to a request that pinned `pinned` (null: any version will do), or the 404 a later request would get. */
export function answeredAs(served: Served, pinned: string | null, answered: number): void {
  if (pinned !== null && pinned !== String(answered)) throw versionGone(served, served.name, pinned);
}
