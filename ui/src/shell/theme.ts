/**
 * Light or dark: the operator's choice (kept in localStorage: a preference, not a secret) or, by
 * default, the system's `prefers-color-scheme`, followed live. It lands on `<html data-theme>`, which
 * the stylesheet's variables read.
 */
import { useEffect, useState } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'switchboard.theme';
const DARK = '(prefers-color-scheme: dark)';

export function loadThemeChoice(): ThemeChoice {
  const kept = localStorage.getItem(KEY);
  return kept === 'light' || kept === 'dark' ? kept : 'system';
}

export function applyTheme(choice: ThemeChoice): void {
  const dark = choice === 'dark' || (choice === 'system' && matchMedia(DARK).matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

/** The current choice and its setter; while it is `system`, a change of the system's scheme applies at once. */
export function useTheme(): [ThemeChoice, (choice: ThemeChoice) => void] {
  const [choice, setChoice] = useState<ThemeChoice>(loadThemeChoice);
  useEffect(() => {
    applyTheme(choice);
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
    if (choice !== 'system') return;
    const query = matchMedia(DARK);
    const follow = () => applyTheme('system');
    query.addEventListener('change', follow);
    return () => query.removeEventListener('change', follow);
  }, [choice]);
  return [choice, setChoice];
}
