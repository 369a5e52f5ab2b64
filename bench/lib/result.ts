/** The shape every benchmark returns, and how the runner stores it. */
import type { Machine } from './stats.js';

export interface Goal {
  /** What is promised, e.g. "p99 ≤ 20 ms single host". */
  text: string;
  /** The measured figure the goal is judged on. */
  figure: number;
  unit: string;
  met: boolean;
}

/** One row of a figures table: a label and named numbers (absolute times, ratios…). */
export interface FigureRow {
  label: string;
  [column: string]: string | number | null;
}

export interface BenchResult {
  name: string;
  title: string;
  /** Sizes, rounds and anything else a reader needs to repeat the run. */
  params: Record<string, unknown>;
  /** Named tables of figures. */
  tables: Record<string, FigureRow[]>;
  goals: Goal[];
  notes: string[];
}

export interface StoredRun extends BenchResult {
  date: string;
  smoke: boolean;
  machine: Machine;
  durationS: number;
}

export interface BenchOptions {
  smoke: boolean;
  log: (line: string) => void;
}

export type Benchmark = (options: BenchOptions) => Promise<BenchResult>;

/** How the server under test runs, in a benchmark's parameters: as `npm start` runs it. */
export const COMPILED_RUNTIME = 'compiled JavaScript (dist/, as npm start runs it), node';
