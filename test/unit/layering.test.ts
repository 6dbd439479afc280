import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** STYLE: imports point inward. The domain imports nothing of ours; nothing imports main.ts. */
const SRC = path.resolve(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] ?? '');
}

describe('layering', () => {
  it('keeps src/domain free of framework and project imports', () => {
    for (const file of sourceFiles(path.join(SRC, 'domain'))) {
      for (const spec of importsOf(file)) {
        const resolved = spec.startsWith('.') ? path.resolve(path.dirname(file), spec) : spec;
        const inside = resolved.startsWith(path.join(SRC, 'domain'));
        const builtin = spec.startsWith('node:');
        expect({ file: path.relative(SRC, file), spec, ok: inside || builtin }).toEqual({
          file: path.relative(SRC, file),
          spec,
          ok: true,
        });
      }
    }
  });

  it('never imports main.ts', () => {
    for (const file of sourceFiles(SRC)) {
      for (const spec of importsOf(file)) {
        expect(spec.endsWith('/main')).toBe(false);
      }
    }
  });
});
