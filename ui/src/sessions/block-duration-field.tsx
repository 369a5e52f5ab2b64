/** The disconnect dialog's "Block reconnection" choice: none, 15 min, 1 h, 24 h or custom, with when it would end. */
import { useEffect, useState } from 'react';
import { BLOCK_PRESETS, CUSTOM_UNITS, blockSecondsOf, untilPreview, type BlockChoice } from './block-duration.js';

export function BlockDurationField(props: { idBase: string; choice: BlockChoice; onChange: (c: BlockChoice) => void }) {
  const { idBase, choice } = props;
  // The preview follows the clock while the dialog is open, and is fresh whenever the choice changes.
  const [now, setNow] = useState(Date.now);
  const onChange = (c: BlockChoice) => {
    setNow(Date.now());
    props.onChange(c);
  };
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(timer);
  }, []);
  const seconds = blockSecondsOf(choice);
  const custom = choice.kind === 'custom' ? choice : { kind: 'custom' as const, amount: '2', unit: 'h' as const };
  const radio = (value: string, label: string, next: BlockChoice, checked: boolean) => (
    <label className="inline" key={value}>
      <input type="radio" name="block" value={value} checked={checked} onChange={() => onChange(next)} />
      {label}
    </label>
  );

  return (
    <fieldset className="block-duration" aria-describedby={`${idBase}-until`}>
      <legend>Block reconnection (authorize-mode gateways only)</legend>
      <div className="choices">
        {radio('none', 'No block', { kind: 'none' }, choice.kind === 'none')}
        {BLOCK_PRESETS.map((p) =>
          radio(p.id, p.label, { kind: 'preset', id: p.id }, choice.kind === 'preset' && choice.id === p.id),
        )}
        {radio('custom', 'Custom', custom, choice.kind === 'custom')}
      </div>
      {choice.kind === 'custom' && (
        <div className="custom">
          <label htmlFor={`${idBase}-amount`}>Block for</label>
          <input
            id={`${idBase}-amount`}
            name="blockAmount"
            type="number"
            min={1}
            step="any"
            inputMode="decimal"
            value={choice.amount}
            onChange={(e) => onChange({ ...choice, amount: e.target.value })}
          />
          <label htmlFor={`${idBase}-unit`} className="sr-only">
            Unit
          </label>
          <select
            id={`${idBase}-unit`}
            value={choice.unit}
            onChange={(e) => onChange({ ...choice, unit: e.target.value as typeof choice.unit })}
          >
            {CUSTOM_UNITS.map((u) => (
              <option key={u.id} value={u.id}>
                {u.label}
              </option>
            ))}
          </select>
        </div>
      )}
      <p id={`${idBase}-until`} className="small" data-block-until aria-live="polite">
        {seconds === null
          ? 'No block: Switchboard admits the user’s next connection.'
          : typeof seconds === 'object'
            ? seconds.error
            : `Blocked ${untilPreview(now, seconds)}.`}
      </p>
    </fieldset>
  );
}
