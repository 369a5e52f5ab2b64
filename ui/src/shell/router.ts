/**
 * A router on the History API: /sessions, /gateways, /blocks, /audit, /tokens. The server answers every
 * client route with index.html, so a reload or a shared link lands on the same page.
 */
import { useEffect, useState } from 'react';

export type Route = 'sessions' | 'gateways' | 'blocks' | 'audit' | 'tokens';
const ROUTES: readonly Route[] = ['sessions', 'gateways', 'blocks', 'audit', 'tokens'];

function current(): Route {
  const name = location.pathname.replace(/^\/+|\/+$/g, '');
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'sessions';
}

export function navigate(route: Route): void {
  if (current() === route && location.pathname !== '/') return;
  history.pushState(null, '', `/${route}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(current);
  useEffect(() => {
    const onPop = () => setRoute(current());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return route;
}
