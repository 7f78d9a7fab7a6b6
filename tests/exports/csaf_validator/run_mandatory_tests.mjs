// Runs the BSI CSAF validator's mandatory tests (CSAF 2.0 section 6.1) and its CSAF 2.0 schema
// test on each document given; prints [{isValid, tests: [{name, isValid, errors, ...}]}, ...]
// as JSON, one result per document, in order. Loading the library costs about two seconds of
// CPU, so callers pass all their documents to one run.
// Usage: node run_mandatory_tests.mjs <dir holding node_modules> <document.json>...
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [installDir, ...documentPaths] = process.argv.slice(2)
const lib = join(installDir, 'node_modules', '@secvisogram', 'csaf-validator-lib')
const load = (name) => import(pathToFileURL(join(lib, name)).href)

const mandatory = await load('mandatoryTests.js')
const { csaf_2_0 } = await load('schemaTests.js')
const { default: validate } = await load('validate.js')

const results = []
for (const path of documentPaths) {
  const document = JSON.parse(await readFile(path, 'utf8'))
  results.push(await validate([csaf_2_0, ...Object.values(mandatory)], document))
}
process.stdout.write(JSON.stringify(results))
