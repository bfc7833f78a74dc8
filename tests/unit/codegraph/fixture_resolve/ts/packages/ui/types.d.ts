export declare function ui(): void;
