/** Human-readable formatting for CLI output. Invariant: pure functions, no I/O. */
import type { Dim } from '../onnx/index.ts';

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

/** A relative change in a cost, e.g. 0.061 → "6.1% lower", −0.04 → "4.0% higher". */
export function formatSaving(saved: number): string {
  return saved >= 0 ? `${formatPercent(saved)} lower` : `${formatPercent(-saved)} higher`;
}

/**
 * The warning when images will reach a model as raw 0–255 pixels (no --scale, --mean or --std given); `how` says
 * which images (e.g. "images", "images sent to classify"), `after` ends the advice.
 */
export function rawPixelsWarning(how: string, after = ''): string {
  return `layercache: warning: no --scale, --mean or --std: ${how} reach the model as raw 0–255 pixel values. Pass the model's normalisation `
    + `(e.g. --scale 255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225), or --scale 1 if raw pixels are right${after}.\n`;
}
