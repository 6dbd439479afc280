#!/usr/bin/env node
// npm 11 on this machine kind writes package-lock.json with only the host platform's optional
// packages (npm/cli#4828, #8320); `npm ci` then refuses the lock ("Missing: X@ from lock file").
// This adds the missing platform entries (version, integrity, os/cpu from the registry) so
// that `npm ci` works on a fresh clone. Run it after any dependency change:
//   npm install <pkg> && node scripts/repair-lockfile.mjs
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;

function has(parentPath, name) {
  // Node resolution: nested first, then every ancestor node_modules up to the root.
  let base = parentPath;
  while (true) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return true;
    if (!base) return false;
    const idx = base.lastIndexOf('/node_modules/');
    base = idx === -1 ? '' : base.slice(0, idx);
  }
}

const OSES = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'openharmony', 'aix', 'netbsd', 'openbsd', 'sunos'];
const CPUS = ['x64', 'arm64', 'arm', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el', 'wasm32'];

function lookUp(name, range) {
  try {
    const out = execFileSync(
      'npm',
      ['view', `${name}@${range}`, '--json', 'version', 'dist.integrity', 'os', 'cpu', 'libc'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let info = JSON.parse(out);
    if (Array.isArray(info)) info = info[info.length - 1];
    const record = { version: info.version, integrity: info['dist.integrity'] };
    for (const key of ['cpu', 'os', 'libc']) if (info[key]) record[key] = info[key];
    return record;
  } catch {
    // The registry this machine reaches serves only the host platform's binaries. Record the
    // other platforms' packages by name so npm ci can skip them (they never install here).
    const tokens = name.split('/').pop().split('-');
    const os = OSES.find((o) => tokens.includes(o));
    const cpu = CPUS.find((c) => tokens.includes(c));
    if (!os || !cpu || !/^\d+\.\d+\.\d+/.test(range)) return undefined;
    const record = { version: range, os: [os], cpu: [cpu] };
    if (tokens.includes('musl')) record.libc = ['musl'];
    else if (tokens.includes('gnu') && os === 'linux') record.libc = ['glibc'];
    return record;
  }
}

for (const [path, entry] of Object.entries({ ...packages })) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    if (has(path, name)) continue;
    const record = lookUp(name, range);
    if (!record) continue;
    if (entry.dev) record.dev = true;
    record.optional = true;
    packages[`node_modules/${name}`] = record;
    added += 1;
  }
}

const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`repair-lockfile: added ${added} platform entries`);
