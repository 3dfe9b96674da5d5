// Hides the password of a URL (user:password@host) before it reaches a log, an error or printed config.
export function redactUrl(url: string): string {
  // The password runs to the last '@' before the query, so an unencoded '@', '/' or ':' in it is hidden too,
  // while an '@' in the query string is left alone.
  return url.replace(/\/\/([^:/@?#]*):[^?#]*@/, '//$1:***@');
}
