const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = `(${MONTHS.join('|')})`;
// RFC 9110 §5.6.7: IMF-fixdate, and the two obsolete forms a recipient must still accept.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);
/** Longer delays are not worth passing on (and 10 digits no longer fit a 32-bit integer). */
const MAX_DIGITS = 9;

/**
 * Reads an HTTP `Retry-After` value (RFC 9110 §10.2.3): `delay-seconds` or an `HTTP-date`. Returns
 * the seconds to wait from `now` (0 for a date in the past), or `undefined` when the value is absent
 * or not of that grammar — a caller then uses its own default instead of guessing.
 *
 * @example
 * parseRetryAfter('120', Date.now()); // 120
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:00Z')); // 60
 * parseRetryAfter('soon', Date.now()); // undefined
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (/^\d+$/.test(value)) return value.length <= MAX_DIGITS ? Number(value) : undefined;
  const date = parseHttpDate(value, now);
  return date === undefined ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function parseHttpDate(value: string, now: number): number | undefined {
  let parts: [day: string, month: string, year: number, h: string, m: string, s: string] | undefined;
  let match = IMF_FIXDATE.exec(value);
  if (match) parts = [match[1]!, match[2]!, Number(match[3]), match[4]!, match[5]!, match[6]!];
  else if ((match = RFC850_DATE.exec(value))) {
    // RFC 9110: a two-digit year that would be more than 50 years ahead is the most recent such year
    // in the past, so it names one of the years from 49 back to 50 ahead.
    const currentYear = new Date(now).getUTCFullYear();
    let year = Math.floor(currentYear / 100) * 100 + Number(match[3]);
    if (year > currentYear + 50) year -= 100;
    else if (year <= currentYear - 50) year += 100;
    parts = [match[1]!, match[2]!, year, match[4]!, match[5]!, match[6]!];
  } else if ((match = ASCTIME_DATE.exec(value))) {
    parts = [match[2]!.trim(), match[1]!, Number(match[6]), match[3]!, match[4]!, match[5]!];
  }
  if (parts === undefined) return undefined;
  const [dayText, monthName, year, hours, minutes, seconds] = parts;
  const day = Number(dayText);
  const month = MONTHS.indexOf(monthName);
  const h = Number(hours);
  const m = Number(minutes);
  const s = Number(seconds);
  if (h > 23 || m > 59 || s > 60) return undefined;
  const time = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  // Date.UTC rolls 31 Feb over into March: such a day does not exist.
  if (new Date(time).getUTCDate() !== day) return undefined;
  return time;
}
