using Sam2Sharp.Modeling;
var m = new Mlp(4, 8, 2, 3);
foreach (var kv in m.state_dict()) Console.WriteLine(kv.Key);
var l = new LayerNorm2d(4);
foreach (var kv in l.state_dict()) Console.WriteLine(kv.Key);
Console.WriteLine(l.forward(TorchSharp.torch.randn(1,4,2,2)).shape.Length);
