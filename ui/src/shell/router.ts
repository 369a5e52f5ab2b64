/**
 * A router on the History API: /sessions, /gateways, /blocks, /audit, /tokens. The server answers every
 * client route with index.html, so a reload or a shared link lands on the same page.
 */
import { useEffect, useState } from 'react';

export type Route = 'sessions' | 'gateways' | 'blocks' | 'audit' | 'tokens' | 'history';
const ROUTES: readonly Route[] = ['sessions', 'gateways', 'blocks', 'audit', 'tokens', 'history'];

function current(): Route {
  const name = location.pathname.replace(/^\/+|\/+$/g, '');
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'sessions';
}

/** Opens `route`; `search` (`?…`) carries what the page shows, e.g. History's user or address. */
export function navigate(route: Route, search = ''): void {
  if (current() === route && location.pathname !== '/' && location.search === search) return;
  history.pushState(null, '', `/${route}${search}`);
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
