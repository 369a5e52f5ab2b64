/**
 * A filter form's free-text fields (user, address, ids…): one labelled input each, ids `<idPrefix>-<key>`,
 * values read from and written back to the page's draft by key. The History and Audit forms use it.
 */

export interface TextFilterField<K extends string> {
  key: K;
  label: string;
  placeholder?: string;
}

export function TextFilterFields<K extends string>(props: {
  fields: readonly TextFilterField<K>[];
  idPrefix: string;
  values: Partial<Record<K, string>>;
  onChange: (key: K, value: string) => void;
}) {
  return props.fields.map((f) => (
    <div className="field" key={f.key}>
      <label htmlFor={`${props.idPrefix}-${f.key}`}>{f.label}</label>
      <input
        id={`${props.idPrefix}-${f.key}`}
        value={props.values[f.key] ?? ''}
        onChange={(e) => props.onChange(f.key, e.target.value)}
        placeholder={f.placeholder}
        autoComplete="off"
      />
    </div>
  ));
}
