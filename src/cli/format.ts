/** Human-readable formatting for CLI output. Invariant: pure functions, no I/O. */
import type { Dim } from '../onnx/index.ts';
import { isLoopbackHost } from '../serve/index.ts';

export function formatShape(shape: readonly Dim[] | null): string {
  return shape ? `[${shape.join(', ')}]` : '[?]';
}

/** 125_500_000 → "125.50 M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/**
 * A probability threshold, with the digits that tell it from 1: 0.9 → "0.90000", 0.9999995 → "1 − 5.0e-7" (printed
 * with five decimals it read "1.00000", a rule that never fires).
 */
export function formatProbability(p: number): string {
  return p < 1 && p.toFixed(5) === '1.00000' ? `1 − ${(1 - p).toExponential(1)}` : p.toFixed(5);
}

/** The warning for a server that listens beyond this machine without a token, or null. */
export function openHostWarning(host: string, token: string | null): string | null {
  if (token !== null || isLoopbackHost(host)) return null;
  return `layercache: warning: --host ${host} lets other machines reach the server, and no token is set: anyone who can connect may run inferences and feed its online learning. `
    + `Set --token (or LAYERCACHE_TOKEN), or keep --host 127.0.0.1 behind a reverse proxy.\n`;
}

/**
 * A ready-to-paste curl request: `args` after `curl -s`, with the Authorization header (the token named, never
 * printed) when the server has a token.
 */
export function curlLine(args: string, token: string | null): string {
  return token === null ? `  curl -s ${args}\n` : `  curl -s -H "Authorization: Bearer TOKEN" ${args}   # TOKEN: the --token or LAYERCACHE_TOKEN value\n`;
}

/** "1 exit", "2 exits". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A MACs saving (1 − bundle / backbone) in words: "saved 14.4%", or "0.2% more than the backbone's" (heads that cost more than their exits save). */
export function formatMacsSaving(saved: number): string {
  return saved >= 0 ? `saved ${formatPercent(saved)}` : `${formatPercent(-saved)} more than the backbone's`;
}

/**
 * The warning when images will reach a model as raw 0–255 pixels (no --scale, --mean or --std given); `how` says
 * which images (e.g. "images", "images sent to classify"), `after` ends the advice.
 */
export function rawPixelsWarning(how: string, after = ''): string {
  return `layercache: warning: no --scale, --mean or --std: ${how} reach the model as raw 0–255 pixel values. Pass the model's normalisation `
    + `(e.g. --scale 255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225), or --scale 1 if raw pixels are right${after}.\n`;
}
