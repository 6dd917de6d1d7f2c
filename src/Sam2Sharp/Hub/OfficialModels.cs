namespace Sam2Sharp.Hub;

/// <summary>
/// The eight official SAM 2 / SAM 2.1 checkpoints, as the reference's download script fetches
/// them. Meta publishes no checksums; the SHA-256 values are those pinned by other projects that
/// download the same files. The sizes of the SAM 2 (July 2024) files are not pinned anywhere we know,
/// so for them only the hash is checked.
/// </summary>
public static class OfficialModels
{
    /// <summary>Meta's public file server; <c>SAM2_MODEL_BASE_URL</c> replaces it (a mirror with the same paths).</summary>
    public const string DefaultBaseUrl = "https://dl.fbaipublicfiles.com";

    static readonly (string Name, string Folder, long? Size, string Sha256, string Config)[] Table =
    [
        ("sam2.1_hiera_tiny", "092824", 156008466, "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", "sam2.1_hiera_t"),
        ("sam2.1_hiera_small", "092824", 184416285, "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", "sam2.1_hiera_s"),
        ("sam2.1_hiera_base_plus", "092824", 323606802, "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", "sam2.1_hiera_b+"),
        ("sam2.1_hiera_large", "092824", 898083611, "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", "sam2.1_hiera_l"),
        ("sam2_hiera_tiny", "072824", null, "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125", "sam2_hiera_t"),
        ("sam2_hiera_small", "072824", null, "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3", "sam2_hiera_s"),
        ("sam2_hiera_base_plus", "072824", null, "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071", "sam2_hiera_b+"),
        ("sam2_hiera_large", "072824", null, "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b", "sam2_hiera_l"),
    ];

    /// <summary>The eight entries with their files under <paramref name="baseUrl"/> (null: <see cref="DefaultBaseUrl"/>).</summary>
    public static IReadOnlyList<ModelEntry> Entries(string? baseUrl = null)
    {
        var root = (string.IsNullOrWhiteSpace(baseUrl) ? DefaultBaseUrl : baseUrl).TrimEnd('/');
        if (!Uri.TryCreate(root + "/", UriKind.Absolute, out var rootUri) || rootUri.Scheme is not ("http" or "https"))
            throw new Sam2Exception($"SAM2_MODEL_BASE_URL '{baseUrl}' is not an http(s) URL");
        return Table.Select(t => new ModelEntry(t.Name, new Uri(rootUri, $"segment_anything_2/{t.Folder}/{t.Name}.pt"), t.Sha256, t.Size, t.Config)).ToList();
    }
}
