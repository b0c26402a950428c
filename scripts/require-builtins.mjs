// Rewrites a bundled module's imports of Node's built-in modules and of
// this package's CommonJS files (core/native.cjs) as require() calls, through
// one createRequire. An ES import of a built-in builds its ES facade, which
// reads every export, lazy getters included: `node:fs` loads all of Node's
// streams for fs.ReadStream, `node:util` its MIME parser; an ES import of a
// CommonJS file runs Node's CommonJS export lexer (~125 functions compiled
// on first use). An empty provision took 0.95x the CPU time without them
// (docs/benchmarks.md, "Startup").
//
// esbuild writes each module's imports at the head of its section, before
// any code of that module, and a module's section follows those of the
// modules it imports (the package has no import cycle): a `const` in an
// import's place is set before anything reads it.
import fs from 'node:fs';

const REQUIRE = '__layercopyRequire';
const IMPORT = /^import (.+?) from "(node:[a-z_/]+|\.\/[\w./-]+\.cjs)";$/gm;

/** Rewrites the file in place; throws on an import of those it cannot rewrite. */
export function requireBuiltins(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (text.includes(REQUIRE)) throw new Error(`require-builtins: ${file} already names ${REQUIRE}`);
  let count = 0;
  const next = text.replace(IMPORT, (whole, what, specifier) => {
    count++;
    return `const ${binding(what, file)} = ${REQUIRE}(${JSON.stringify(specifier)});`;
  });
  if (/^import\s[^;]*?"(node:[^"]+|[^"]+\.cjs)";$/m.test(next)) throw new Error(`require-builtins: ${file} keeps an import it could not rewrite`);
  if (count === 0) return;
  const head = `import { createRequire as ${REQUIRE}Of } from "node:module";\nconst ${REQUIRE} = ${REQUIRE}Of(import.meta.url);\n`;
  const shebang = next.startsWith('#!') ? next.indexOf('\n') + 1 : 0;
  fs.writeFileSync(file, next.slice(0, shebang) + head + next.slice(shebang));
}

/** `fs` or `{ a, b as c }` as the left side of a declaration. */
function binding(what, file) {
  if (/^[\w$]+$/.test(what)) return what;
  const named = /^\{ ?([\w$]+(?: as [\w$]+)?(?:, [\w$]+(?: as [\w$]+)?)*) ?\}$/.exec(what);
  if (!named) throw new Error(`require-builtins: ${file}: cannot rewrite 'import ${what}'`);
  return `{ ${named[1].replace(/([\w$]+) as ([\w$]+)/g, '$1: $2')} }`;
}
