/** Whether a CSS media query matches now, followed live (a rotated phone, a resized window). */
import { useEffect, useState } from 'react';

/** The phone layout: cards, collapsed filters, details as a sheet. The stylesheet's phone rules use the same width. */
export const PHONE = '(max-width: 640px)';

export function useMedia(query: string): boolean {
  const [matches, setMatches] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const q = matchMedia(query);
    const follow = () => setMatches(q.matches);
    follow();
    q.addEventListener('change', follow);
    return () => q.removeEventListener('change', follow);
  }, [query]);
  return matches;
}
