import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './shell/app.js';
import { applyTheme, loadThemeChoice } from './shell/theme.js';
import './styles.css';

// Before the first paint: no flash of the other theme.
applyTheme(loadThemeChoice());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
