// Hides the password of a URL (user:password@host) before it reaches a log, an error or printed config.
export function redactUrl(url: string): string {
  // Up to the last '@', so that an unencoded '@', '/' or ':' in the password is hidden too.
  return url.replace(/\/\/([^:/@]*):.*@/, '//$1:***@');
}
