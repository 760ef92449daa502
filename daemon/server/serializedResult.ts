/**
 * A handler's result already serialized as JSON text: the server puts the text into the response frame as it
 * is, instead of serializing a value. A page of `query` is made of stored lines, which are JSON already;
 * parsing them (to apply the filter) and serializing the parsed entries again was a sixth of a paged query's
 * CPU at 1M entries. The text must be one JSON value (the handler builds it from parsed lines).
 */
export class SerializedResult<T> {
  /** Only for the compiler: the result this text stands for. */
  declare readonly result?: T;
  readonly json: string;

  constructor(json: string) {
    this.json = json;
  }
}
