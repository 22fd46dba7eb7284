// The start page: only the shared frame (header, language switch, page list).
import { shell } from "./shell.js";

shell();
