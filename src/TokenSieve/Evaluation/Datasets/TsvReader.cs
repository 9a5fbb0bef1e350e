using System.Text;

namespace TokenSieve.Evaluation;

/// <summary>Tab-separated records as pandas' <c>read_csv(sep='\t')</c> reads them: a field that starts with
/// '"' is quoted, may hold tabs and newlines, and doubles '"' to escape it. Yields each record's fields and
/// the 1-based line where it starts.</summary>
internal static class TsvReader
{
    public static IEnumerable<(int Line, List<string> Fields)> Read(TextReader reader)
    {
        int line = 1;
        while (true)
        {
            int startLine = line;
            var fields = new List<string>();
            var field = new StringBuilder();
            int c = reader.Read();
            if (c < 0) yield break;
            bool atFieldStart = true, quoted = false, endOfRecord = false;
            while (!endOfRecord)
            {
                if (c < 0) { fields.Add(field.ToString()); break; }
                char ch = (char)c;
                if (quoted)
                {
                    if (ch == '"')
                    {
                        if (reader.Peek() == '"') { field.Append('"'); reader.Read(); }
                        else quoted = false;
                    }
                    else
                    {
                        if (ch == '\n') line++;
                        field.Append(ch);
                    }
                }
                else if (ch == '"' && atFieldStart) quoted = true;
                else if (ch == '\t') { fields.Add(field.ToString()); field.Clear(); atFieldStart = true; c = reader.Read(); continue; }
                else if (ch == '\n' || ch == '\r')
                {
                    if (ch == '\r' && reader.Peek() == '\n') reader.Read();
                    line++;
                    fields.Add(field.ToString());
                    endOfRecord = true;
                    continue;
                }
                else field.Append(ch);
                atFieldStart = false;
                c = reader.Read();
            }
            if (fields.Count == 1 && fields[0].Length == 0) continue;   // blank line
            yield return (startLine, fields);
        }
    }
}
