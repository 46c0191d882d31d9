// `npm start` in a terminal: the services' JSON log lines, made readable (pino-pretty). The services
// keep writing JSON; only this printer formats, so files, pipes and containers get JSON as before.
import { prettyFactory } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/** A line formatter: JSON log lines of pino become `time level service: message  status ms`. */
export function prettyLines({ colorize = false } = {}): (line: string) => string {
  const pretty = prettyFactory({
    colorize,
    translateTime: 'HH:MM:ss.l',
    // The prefix of start.ts names the service already; pid/hostname say nothing here.
    ignore: 'pid,hostname,name,service,trace_id,span_id,method,path,status,ms,aborted',
    messageFormat: (log, messageKey) => {
      const msg = String(log[messageKey] ?? '');
      if (msg !== 'request') return msg;
      return `${String(log.method)} ${String(log.path)} → ${String(log.status)} (${String(log.ms)} ms)${log.aborted ? ' aborted' : ''}`;
    },
    hideObject: false,
    singleLine: true,
  });
  return (line) => {
    if (!line.startsWith('{')) return line;
    try {
      JSON.parse(line);
    } catch {
      return line; // not a log line: printed as it came
    }
    return pretty(line).replace(/\n$/, '');
  };
}
