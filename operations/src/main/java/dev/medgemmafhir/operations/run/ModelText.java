package dev.medgemmafhir.operations.run;

/**
 * What a model writes, made safe to store: FHIR resources are served as XML too, and XML 1.0
 * cannot carry control characters (a {@code U+0005} in a conclusion truncates the XML answer).
 * Line feeds and tabs stay; carriage returns become line feeds; every other C0/C1 control
 * character, unpaired surrogate and non-character {@code U+FFFE}/{@code U+FFFF} is dropped.
 */
public final class ModelText {

  private ModelText() {}

  public static String clean(String text) {
    if (text == null) {
      return null;
    }
    String lines = text.replace("\r\n", "\n").replace('\r', '\n');
    StringBuilder out = new StringBuilder(lines.length());
    for (int i = 0; i < lines.length(); i++) {
      char c = lines.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < lines.length() && Character.isLowSurrogate(lines.charAt(i + 1))) {
        out.append(c).append(lines.charAt(++i));
      } else if (c == '\n' || c == '\t' || (!Character.isISOControl(c) && !Character.isSurrogate(c)
          && c != '\uFFFE' && c != '\uFFFF')) {
        out.append(c);
      }
    }
    return out.toString();
  }
}
