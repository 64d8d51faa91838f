#!/usr/bin/env node
import { main } from "../dist/runtimes/node/cli.js";
await main();
