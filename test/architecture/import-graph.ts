// The import graph of the TypeScript sources, for architecture tests: which files import which (relative imports
// resolved to files, bare specifiers kept as packages), what a file reaches transitively and by which chain, and
// the graph between folders (the layers of CONVENTIONS.md point 9). Imports are listed with ts.preProcessFile, so
// type-only imports, re-exports and dynamic import() count like any other import.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The repository root (this file is test/architecture/import-graph.ts). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** A repository-relative file path with `/` separators (e.g. `src/io/kafka/client.ts`). */
export type FilePath = string;

/** What an import names: a file of the repository, or a package (npm or a Node built-in such as `node:fs`). */
export type Target =
  | { readonly kind: 'file'; readonly path: FilePath }
  | { readonly kind: 'package'; readonly specifier: string; readonly name: string };

export interface ImportEdge {
  /** As written in the source. */
  readonly specifier: string;
  readonly target: Target;
}

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'coverage']);

const toPosix = (p: string): string => p.split(sep).join('/');
const isSource = (file: string): boolean =>
  SOURCE_EXTENSIONS.some((e) => file.endsWith(e)) && !file.endsWith('.d.ts');

/** Every TypeScript source under the given folders (repository-relative), sorted. */
export function listSourceFiles(folders: readonly string[], root: string = REPO_ROOT): FilePath[] {
  const out: FilePath[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(join(dir, entry.name));
      } else if (entry.isFile() && isSource(entry.name))
        out.push(toPosix(relative(root, join(dir, entry.name))));
    }
  };
  for (const folder of folders) {
    const dir = join(root, folder);
    if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  }
  return out.sort();
}

/** The package a bare specifier names: `mysql2/promise` → `mysql2`, `@scope/pkg/x` → `@scope/pkg`, `node:fs/promises` → `node:fs`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const isRelative = (specifier: string): boolean =>
  specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/**
 * Resolves a relative specifier from a file the way NodeNext with allowImportingTsExtensions does: the path as
 * written, `.js` written for a `.ts` file, the path plus a TypeScript extension, or the folder's index file. null
 * when nothing is there.
 */
export function resolveRelative(
  from: FilePath,
  specifier: string,
  root: string = REPO_ROOT,
): FilePath | null {
  const base = resolve(root, dirname(from), specifier);
  const candidates = [
    base,
    ...(/\.[mc]?js$/.test(base) ? [base.replace(/\.([mc]?)js$/, '.$1ts')] : []),
    ...SOURCE_EXTENSIONS.map((e) => base + e),
    ...SOURCE_EXTENSIONS.map((e) => join(base, `index${e}`)),
  ];
  const found = candidates.find(isFile);
  return found === undefined ? null : toPosix(relative(root, found));
}

/** What a source file imports, resolved; an unresolvable relative import is an error (the graph would be wrong). */
export function importsOf(file: FilePath, root: string = REPO_ROOT): ImportEdge[] {
  if (!isSource(file)) return []; // JSON and other non-source files import nothing
  const text = readFileSync(join(root, file), 'utf8');
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: specifier }) => {
    if (!isRelative(specifier))
      return { specifier, target: { kind: 'package', specifier, name: packageName(specifier) } };
    const path = resolveRelative(file, specifier, root);
    if (path === null) throw new Error(`${file}: cannot resolve import '${specifier}'`);
    return { specifier, target: { kind: 'file', path } };
  });
}

/** A key naming a target in closures: the file path, or the specifier as written for a package. */
export const targetKey = (t: Target): string => (t.kind === 'file' ? t.path : t.specifier);

/**
 * Everything `entry` reaches through imports, each with the shortest chain that reaches it (`entry`, …, the module).
 * Files are followed; packages are leaves (their own imports are not ours). The entry itself is not in the result.
 */
export function transitiveImports(
  entry: FilePath,
  root: string = REPO_ROOT,
): Map<string, { readonly target: Target; readonly chain: readonly string[] }> {
  const reached = new Map<string, { target: Target; chain: readonly string[] }>();
  const queue: { file: FilePath; chain: readonly string[] }[] = [{ file: entry, chain: [entry] }];
  const seen = new Set([entry]);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const { target } of importsOf(next.file, root)) {
      const key = targetKey(target);
      if (reached.has(key) || key === entry) continue;
      const chain = [...next.chain, key];
      reached.set(key, { target, chain });
      if (target.kind === 'file' && !seen.has(target.path)) {
        seen.add(target.path);
        queue.push({ file: target.path, chain });
      }
    }
  }
  return reached;
}

/**
 * The architectural folder of a file: `src/<sub>` for a file in a folder under src/, `src/<file>` for a file directly
 * in src/, else the top-level folder (`operators`, `pipelines`, `test`, …) or, for a file at the root, the file.
 */
export function folderOf(file: FilePath): string {
  const parts = posix.normalize(file).split('/');
  if (parts[0] === 'src' && parts.length >= 2) return `src/${parts[1]}`;
  return parts[0]!;
}

/** One folder-to-folder dependency and the file imports behind it. */
export interface FolderEdge {
  readonly from: string;
  readonly to: string;
  readonly imports: readonly { readonly file: FilePath; readonly imported: FilePath }[];
}

/**
 * The graph between folders (folderOf) of the files under `folders`: an edge for every folder a file imports a file
 * of, imports within a folder left out. Packages are not folders; filter importsOf for those.
 */
export function folderGraph(folders: readonly string[], root: string = REPO_ROOT): Map<string, FolderEdge[]> {
  const edges = new Map<string, Map<string, { file: FilePath; imported: FilePath }[]>>();
  for (const file of listSourceFiles(folders, root)) {
    const from = folderOf(file);
    for (const { target } of importsOf(file, root)) {
      if (target.kind !== 'file') continue;
      const to = folderOf(target.path);
      if (to === from) continue;
      let byTarget = edges.get(from);
      if (!byTarget) edges.set(from, (byTarget = new Map()));
      let list = byTarget.get(to);
      if (!list) byTarget.set(to, (list = []));
      list.push({ file, imported: target.path });
    }
  }
  return new Map(
    [...edges].map(([from, byTarget]) => [
      from,
      [...byTarget].map(([to, imports]) => ({ from, to, imports })).sort((a, b) => a.to.localeCompare(b.to)),
    ]),
  );
}

/** The cycles of a folder graph: each strongly connected set of two or more folders (Tarjan), folders sorted. */
export function folderCycles(graph: ReadonlyMap<string, readonly FolderEdge[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const { to: w } of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}
