// The README stays a short front page and the reference lives in docs/: the README fits in 12 KB and shows the
// two commands first, links every docs/ page, and no link in the README or in docs/ leaves the repository (relative
// links resolve to files in it, #anchors to a heading of the page, http(s) only to this machine).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const README = 'README.md';
const DOCS = 'docs';
const MAX_README_BYTES = 12_288;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1']);

function read(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/** Every file under a folder of the repository, as repository paths with `/`. */
function filesUnder(dir: string): string[] {
  const abs = join(repoRoot, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(repoRoot, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

const docsPages = filesUnder(DOCS).filter((f) => f.endsWith('.md'));
const pages = [README, ...docsPages];

/** The markdown without fenced code blocks (lines blanked, so line numbers stay) and without inline code spans. */
function prose(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split(/\r?\n/)
    .map((line) => {
      const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
      if (m) {
        const marker = m[1]!;
        if (fence === undefined) fence = marker;
        else if (marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
        return '';
      }
      if (fence !== undefined) return '';
      return line.replace(/(`+)[^`]*?\1/g, '');
    })
    .join('\n');
}

/** Link targets: inline links and images, reference definitions, autolinks, bare http(s) URLs in prose. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const targets: string[] = [];
  for (const m of text.matchAll(
    /\]\(\s*(?:<([^>]*)>|([^)\s]*))(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
  )) {
    targets.push(m[1] ?? m[2] ?? '');
  }
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?([^>\s]+)>?/gm)) targets.push(m[1]!);
  for (const m of text.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]*)>/gi)) targets.push(m[1]!);
  // Bare URLs GitHub turns into links; those inside a markdown link were taken above.
  const withoutLinks = text.replace(/\]\([^)]*\)/g, '](…)').replace(/<[a-z][a-z0-9+.-]*:[^>\s]*>/gi, '');
  for (const m of withoutLinks.matchAll(/\bhttps?:\/\/[^\s<>)\]'"`]+/gi))
    targets.push(m[0].replace(/[.,;:!?]+$/, ''));
  return targets;
}

/** GitHub's heading anchor: lower case, punctuation dropped (but `-` and `_`), each space a `-`. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Anchors of a page: its ATX headings outside code fences (repeats numbered -1, -2, …) and explicit HTML ids. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fence: string | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (f) {
      const marker = f[1]!;
      if (fence === undefined) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      continue;
    }
    const h = fence === undefined ? /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+\s*)?$/.exec(line) : null;
    if (!h) continue;
    const base = githubSlug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/gi)) result.add(m[1]!);
  return result;
}

interface Resolved {
  /** The link as written. */
  link: string;
  /** What is wrong with it, or undefined. */
  problem?: string;
  /** Repository path of the file it points to (relative links). */
  file?: string;
}

/** Checks one link of a page. */
function resolveLink(page: string, link: string): Resolved {
  if (link === '') return { link, problem: 'empty link' };
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(link);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1]!)) return { link, problem: `a ${scheme[1]} link leaves the repository` };
    let host: string;
    try {
      host = new URL(link).hostname;
    } catch {
      return { link, problem: 'not a valid URL' };
    }
    return LOCAL_HOSTS.has(host)
      ? { link }
      : { link, problem: 'an http(s) link to a host other than localhost / 127.0.0.1' };
  }
  if (link.startsWith('//')) return { link, problem: 'a protocol-relative link leaves the repository' };
  const hash = link.indexOf('#');
  const rawPath = hash < 0 ? link : link.slice(0, hash);
  const fragment = hash < 0 ? undefined : link.slice(hash + 1);
  let path: string;
  try {
    path = decodeURIComponent(rawPath.split('?')[0]!);
  } catch {
    return { link, problem: 'a path that does not decode' };
  }
  const abs =
    path === ''
      ? join(repoRoot, page)
      : path.startsWith('/')
        ? join(repoRoot, path)
        : resolve(dirname(join(repoRoot, page)), path);
  const rel = relative(repoRoot, abs);
  if (rel === '..' || rel.startsWith(`..${sep}`)) {
    return { link, problem: 'resolves outside the repository' };
  }
  if (!existsSync(abs)) return { link, problem: `no such file: ${rel}` };
  const file = rel.split(sep).join('/');
  if (fragment !== undefined && fragment !== '') {
    if (!file.endsWith('.md')) return { link, file, problem: 'an #anchor into a file that is not markdown' };
    const target = readFileSync(abs, 'utf8');
    if (!anchors(target).has(decodeURIComponent(fragment))) {
      return { link, file, problem: `no heading #${fragment} in ${file}` };
    }
  }
  return { link, file };
}

describe('githubSlug', () => {
  it('makes the anchors GitHub makes', () => {
    expect(githubSlug('Windows, watermarks and late records')).toBe('windows-watermarks-and-late-records');
    expect(githubSlug('Alerts: `npm run alerts -- tail`')).toBe('alerts-npm-run-alerts----tail');
    expect(githubSlug('Grafana dashboard (docker compose)')).toBe('grafana-dashboard-docker-compose');
    expect(githubSlug('Serving & services')).toBe('serving--services');
    expect(githubSlug('[docs](docs/a.md) and _x_')).toBe('docs-and-_x_');
  });
});

describe('resolveLink', () => {
  it('refuses links that leave the repository and accepts local ones', () => {
    expect(resolveLink(README, '../shared/DESIGN.md').problem).toBe('resolves outside the repository');
    expect(resolveLink(README, 'https://example.com/').problem).toMatch(/other than localhost/);
    expect(resolveLink(README, 'mailto:someone@example.com').problem).toMatch(/leaves the repository/);
    expect(resolveLink(README, '//example.com/x').problem).toMatch(/leaves the repository/);
    expect(resolveLink(README, 'http://localhost:3000').problem).toBeUndefined();
    expect(resolveLink(README, 'http://127.0.0.1:9464/metrics').problem).toBeUndefined();
    expect(resolveLink(README, 'package.json').problem).toBeUndefined();
    expect(resolveLink(README, 'no-such-file.md').problem).toMatch(/no such file/);
  });

  it('finds the links of a page outside code', () => {
    const md = [
      'See [a](docs/a.md#x "title"), ![img](<b c.png>) and <http://localhost:1>; also https://example.com/z.',
      '`[not](a-link.md)` and',
      '```',
      '[not](a-link-either.md) http://example.org',
      '```',
      '[ref]: ./ref.md',
    ].join('\n');
    expect(linkTargets(md).sort()).toEqual(
      ['./ref.md', 'b c.png', 'docs/a.md#x', 'http://localhost:1', 'https://example.com/z'].sort(),
    );
  });
});

describe('README.md', () => {
  const readme = read(README);

  it(`is at most ${MAX_README_BYTES} bytes`, () => {
    expect(Buffer.byteLength(readme, 'utf8')).toBeLessThanOrEqual(MAX_README_BYTES);
  });

  it('shows the two commands first: `npm ci && npm run demo` and `npm test`', () => {
    // Before the second section: the title, what tagstream is, then the commands.
    const sections = readme.split(/^## /m);
    const first = sections.slice(0, 2).join('## ');
    expect(first).toContain('npm ci && npm run demo');
    expect(first).toMatch(/(^|[\s`])npm test([\s`]|$)/m);
  });

  it('links every page in docs/', () => {
    expect(filesUnder(DOCS).length).toBeGreaterThan(0);
    const linked = new Set(linkTargets(readme).map((l) => resolveLink(README, l).file));
    expect(filesUnder(DOCS).filter((f) => !linked.has(f))).toEqual([]);
  });
});

describe.each(pages)('links of %s', (page) => {
  it('stay in the repository, resolve to existing files, and #anchors to headings', () => {
    const problems = linkTargets(read(page))
      .map((l) => resolveLink(page, l))
      .filter((r) => r.problem !== undefined)
      .map((r) => `${r.link}: ${r.problem}`);
    expect(problems).toEqual([]);
  });
});
