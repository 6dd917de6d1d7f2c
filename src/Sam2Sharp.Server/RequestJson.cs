using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sam2Sharp.Server;

/// <summary>A JSON request body read field by field, so that a bad request is refused with the field it names.</summary>
public sealed class RequestJson
{
    static readonly HashSet<string> None = new();
    readonly JsonElement root;

    RequestJson(JsonElement root) => this.root = root;

    /// <summary>Parses the body (an empty body is <c>{}</c>); only the <paramref name="allowed"/> fields may appear.</summary>
    public static async Task<RequestJson> ReadAsync(HttpRequest request, params string[] allowed)
    {
        using var ms = new MemoryStream();
        await request.Body.CopyToAsync(ms, request.HttpContext.RequestAborted);
        if (ms.Length == 0) return new RequestJson(JsonDocument.Parse("{}").RootElement);
        JsonElement el;
        try { el = JsonDocument.Parse(ms.ToArray()).RootElement; }
        catch (JsonException e) { throw ApiException.BadRequest($"the body is not valid JSON: {e.Message}"); }
        if (el.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest("the body must be a JSON object");
        foreach (var p in el.EnumerateObject())
            if (!allowed.Contains(p.Name)) throw ApiException.BadRequest($"unknown field '{p.Name}' (fields: {string.Join(", ", allowed)})");
        return new RequestJson(el);
    }

    public bool Has(string field) => root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null;

    public int Int(string field) => OptionalInt(field) ?? throw ApiException.BadRequest($"field '{field}' is required");

    public int? OptionalInt(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i)) throw ApiException.BadRequest($"field '{field}' must be an integer");
        return i;
    }

    public double? OptionalDouble(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        if (v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble())) throw ApiException.BadRequest($"field '{field}' must be a number");
        return v.GetDouble();
    }

    public bool? OptionalBool(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.BadRequest($"field '{field}' must be true or false"),
        };
    }

    public string? OptionalString(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiException.BadRequest($"field '{field}' must be a string");
    }

    /// <summary>An array of finite numbers, of exactly <paramref name="length"/> items when given.</summary>
    public float[]? OptionalNumbers(string field, int? length = null)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"field '{field}' must be an array of numbers");
        var list = new List<float>();
        foreach (var x in v.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !float.IsFinite(x.GetSingle())) throw ApiException.BadRequest($"field '{field}' must hold only numbers");
            list.Add(x.GetSingle());
        }
        if (length is { } n && list.Count != n) throw ApiException.BadRequest($"field '{field}' must hold {n} numbers");
        return list.ToArray();
    }

    /// <summary>[[x, y], …] as an N×2 array.</summary>
    public float[,]? OptionalPoints(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"field '{field}' must be an array of [x, y] pairs");
        var items = v.EnumerateArray().ToList();
        var pts = new float[items.Count, 2];
        for (int i = 0; i < items.Count; i++)
        {
            var p = items[i];
            if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2
                || p.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.Number || !float.IsFinite(c.GetSingle())))
                throw ApiException.BadRequest($"field '{field}', item {i}: must be [x, y]");
            pts[i, 0] = p[0].GetSingle();
            pts[i, 1] = p[1].GetSingle();
        }
        return pts;
    }

    /// <summary>An array of integers.</summary>
    public int[]? OptionalInts(string field)
    {
        if (!Has(field)) return null;
        var v = root.GetProperty(field);
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"field '{field}' must be an array of integers");
        return v.EnumerateArray().Select((x, i) => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int k) ? k
            : throw ApiException.BadRequest($"field '{field}', item {i}: must be an integer")).ToArray();
    }
}
