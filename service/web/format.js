// Number formatting shared by the chart, the simulation and the playground.

const trim = (text) => text.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');

/**
 * Format 10^log10: 20 -> "1e+20", 0 -> "1", -10 -> "1e-10", 5.5 -> "3.16e+5", -1.5 -> "0.0316".
 * Works for exponents far outside the float range, since only log10 is used.
 */
export function formatPow10(log10, digits = 3) {
  if (typeof log10 !== 'number' || !Number.isFinite(log10)) {
    if (log10 === Infinity) return 'overflow';
    if (log10 === -Infinity) return '0';
    return '—';
  }
  let exponent = Math.floor(log10);
  let mantissa = Number((10 ** (log10 - exponent)).toPrecision(digits));
  if (mantissa >= 10) {
    mantissa /= 10;
    exponent += 1;
  }
  const mantissaText = trim(mantissa.toPrecision(digits));
  // Small exponents read better as plain numbers (0.0316, 100); the rest as 1e+20.
  if (exponent >= -2 && exponent <= 3) return String(Number((mantissa * 10 ** exponent).toPrecision(digits)));
  return `${mantissaText}e${exponent > 0 ? '+' : '-'}${Math.abs(exponent)}`;
}

/** A plain number with a few significant digits; exponent notation when very large or small. */
export function formatNumber(value, digits = 4) {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '∞' : '−∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) {
    const [mantissa, exponent] = value.toExponential(digits - 1).split('e');
    return `${trim(mantissa)}e${exponent}`;
  }
  return trim(value.toPrecision(digits));
}

/** log10 of a positive finite value, else null. */
export function safeLog10(value) {
  return typeof value === 'number' && value > 0 && Number.isFinite(value) ? Math.log10(value) : null;
}

export function formatPercent(fraction) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '—';
  return `${trim((fraction * 100).toFixed(1))}%`;
}
