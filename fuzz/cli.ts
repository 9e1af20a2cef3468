import { main } from './fuzz.js';

// `npm run fuzz -- --seed N --messages N`: the summary on stdout, exit 0 pass / 1 violation / 2 bad arguments.
process.exitCode = await main(process.argv.slice(2));
// Sockets the server left half-open must not keep the fuzzer alive once the report is out.
setTimeout(() => process.exit(), 1000).unref();
